"""The chat template BioMatrix is trained and served with: plain ChatML, no `<think>` block.

Qwen3's own template puts an empty `<think>\n\n</think>\n\n` before the last assistant turn (and
appends it to the generation prompt only when `enable_thinking=False`), so a model trained with it
and called as the model card's Quick Start calls it (`apply_chat_template(messages,
add_generation_prompt=True)`, no other flag) would see another prompt than in training. This model
does not reason in think blocks; with this template every render is a prefix of the next one, and
the SFT corpus (`data_pipeline.sft`) renders training samples with this very string, so training
equals inference token for token. `hf_export` writes it into the exported `tokenizer_config.json`.
"""

from __future__ import annotations

import functools

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)
TURN_END = "<|im_end|>"


@functools.lru_cache(maxsize=1)
def _compiled():
    """The template compiled the way transformers compiles chat templates (a sandboxed jinja2
    environment with trim_blocks and lstrip_blocks)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(CHAT_TEMPLATE)


def render_chat(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The text `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)` gives
    with the exported tokenizer."""
    return _compiled().render(messages=messages, add_generation_prompt=add_generation_prompt)

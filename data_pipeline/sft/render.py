"""Examples -> chat messages -> token ids and loss masks, exactly as inference renders them.

Every record, built or imported, passes one content check (`check_document`) before it is
rendered: roles in order, a non-empty answer, text without control strings (only the chat template
and the wrappers of typed segments insert control tokens), wrapped molecules and sequences valid.
A sample is one assistant turn: prompt = the chat template's render of the history with the
generation prompt; full = the render with the answer; the prompt's tokens must be a prefix of the
full render's, and the loss covers the answer's tokens and its `<|im_end|>`, not the newline after
it. One sample per assistant turn; a sample longer than the sequence length is rejected, never
truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from megatron_bio.tokenizer.chat_template import TURN_END, render_chat
from megatron_bio.tokenizer.errors import TokenizationError
from megatron_bio.tokenizer.segments import Document
from megatron_bio.tokenizer.unified import BioMatrixTokenizer

from .content import Rejected, check_segment, check_turns

Messages = Sequence[tuple[str, Document]]


def check_document(tokenizer: BioMatrixTokenizer, document: Document, where: str) -> None:
    """The content check (`content.check_segment`) plus the tokenizer's own: control strings in
    text, SELFIES symbols of the inventory, residue letters, structure codes."""
    try:
        for segment in document:
            check_segment(segment)
        tokenizer.encode(document)
    except Rejected as error:
        raise Rejected(f"{where}: {error}") from None
    except TokenizationError as error:
        raise Rejected(f"{where}: {error.reason}") from None


@dataclass(frozen=True)
class Sample:
    tokens: np.ndarray  # int32
    loss_mask: np.ndarray  # uint8: 1 where the token is a target (the answer and its <|im_end|>)


class ChatEncoder:
    """Checks, renders and tokenizes conversations with the exported chat template."""

    def __init__(self, tokenizer: BioMatrixTokenizer, sequence_length: int) -> None:
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.turn_end = tokenizer.backend.token_to_id(TURN_END)
        self.newline = tokenizer.backend.encode("\n", add_special_tokens=False).ids

    def messages(self, messages: Messages) -> list[dict]:
        """Checked messages as the chat template takes them (content rendered with wrappers)."""
        if not messages:
            raise Rejected("no messages")
        check_turns(messages)
        rendered = []
        for index, (role, document) in enumerate(messages):
            check_document(self.tokenizer, document, f"message {index} ({role})")
            rendered.append({"role": role, "content": self.tokenizer.render(document)})
        return rendered

    def samples(self, conversations: Sequence[list[dict]]) -> list[list[Sample] | Rejected]:
        """Per conversation, one sample per assistant turn, or the reason it is rejected."""
        texts, spans = [], []
        for messages in conversations:
            turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
            spans.append((len(texts), len(turns)))
            for i in turns:
                texts.append(render_chat(messages[:i], add_generation_prompt=True))
                texts.append(render_chat(messages[:i + 1]))
        encoded = [e.ids for e in self.tokenizer.backend.encode_batch_fast(texts, add_special_tokens=False)]
        results: list = []
        for start, turns in spans:
            try:
                results.append([self._sample(encoded[start + 2 * t], encoded[start + 2 * t + 1]) for t in range(turns)])
            except Rejected as error:
                results.append(error)
        return results

    def _sample(self, prompt: list[int], full: list[int]) -> Sample:
        if full[:len(prompt)] != prompt:
            raise Rejected("the prompt's tokens are not a prefix of the answered conversation's")
        if full[-1 - len(self.newline)] != self.turn_end or full[-len(self.newline):] != self.newline:
            raise Rejected("the answered conversation does not end with <|im_end|> and a newline")
        if len(full) > self.sequence_length:
            raise Rejected(f"sample of {len(full)} tokens is longer than the sequence length {self.sequence_length}")
        mask = np.zeros(len(full), dtype=np.uint8)
        mask[len(prompt):len(full) - len(self.newline)] = 1
        return Sample(np.asarray(full, dtype=np.int32), mask)

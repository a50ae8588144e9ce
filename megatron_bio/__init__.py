"""What defines BioMatrix as a model, the middle layers (README, "Layout"): tokenizer, structure
tokenizers, tokenizer_config, model, and on top training and conversion; above biomatrix_io.

Warnings a user can do nothing about are silenced here, before any of our modules imports
megatron-core: without Transformer Engine or Apex it warns eight times per process that it falls
back to torch (on a CPU machine that is the plan, not news: a job says which layers it runs once,
in its first log line), and its checkpoint loading calls torch APIs that torch marks deprecated.
"""

import warnings

warnings.filterwarnings("ignore", message=r"(Transformer Engine and Apex|Apex) (are|is) not installed", category=UserWarning)
warnings.filterwarnings("ignore", message=r"`load_state_dict` is deprecated", category=FutureWarning)
warnings.filterwarnings("ignore", message=r"Please use DTensor instead and we are deprecating ShardedTensor", category=FutureWarning)

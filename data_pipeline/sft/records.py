"""The one chat record every SFT source becomes: built tasks and imported public formats alike, so
that splitting, rendering, masking and packing see a single shape whatever the data came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from biomatrix_io.records import Provenance
from megatron_bio.tokenizer.segments import Segment

from .content import ROLES

Turn = tuple[str, tuple[Segment, ...]]


@dataclass(frozen=True)
class ChatRecord:
    """A conversation: `messages` are (role, content) turns, roles among `ROLES`, content as typed
    segments (a molecule stays a SMILES or SELFIES segment, a protein a protein segment, so the
    tokenizer wraps them and the split table can key them). `split` is a split the source file
    declares (SMolInstruct's test file, say), `target` the raw answer a scorer compares against
    when the format has one (SMolInstruct's `raw_output`), `meta` whatever else the format carries
    that evaluation may need."""

    provenance: Provenance
    messages: tuple[Turn, ...]
    task: Optional[str] = None
    split: Optional[str] = None
    target: Optional[str] = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted({role for role, _ in self.messages} - set(ROLES))
        if unknown:
            raise ValueError(f"{self.provenance.record_id}: roles {unknown} are not among {ROLES}")

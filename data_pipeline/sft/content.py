"""The one content check every SFT record passes, imported or built: the turns in order and not
empty, and each typed segment valid for its modality (a SMILES RDKit reads, a SELFIES that decodes
to a molecule, residue letters, text without an unknown wrapper-like tag). Importers call it while
they map a format, so a bad entry is rejected where it is read; the builder calls it again on every
record before rendering, with the tokenizer's own checks (control strings in text, inventories)."""

from __future__ import annotations

import re
from typing import Sequence

import selfies as sf
from rdkit import Chem

from megatron_bio.tokenizer.families import RESIDUES
from megatron_bio.tokenizer.segments import Modality, Segment

from .rendered import unknown_wrapper

ROLES = ("system", "user", "assistant")
_RESIDUES = frozenset(letter for letter, _ in RESIDUES)
_WHITESPACE = re.compile(r"\s")


class Rejected(ValueError):
    """A record (or one of its samples) that cannot be trained on; the message is the reason."""


def check_segment(segment: Segment) -> Segment:
    """`segment`, or Rejected saying why its content is not what its modality holds."""
    value = segment.value
    if segment.modality is Modality.TEXT:
        if foreign := unknown_wrapper(value):
            raise Rejected(f"unknown modality wrapper {foreign!r}")
    elif segment.modality is Modality.SMILES:
        if _WHITESPACE.search(value):
            raise Rejected(f"SMILES {value[:60]!r} holds whitespace")
        if Chem.MolFromSmiles(value) is None:
            raise Rejected(f"SMILES {value[:60]!r} that RDKit cannot parse")
    elif segment.modality is Modality.SELFIES:
        try:
            decoded = sf.decoder(value)
        except sf.DecoderError as error:
            raise Rejected(f"SELFIES {value[:60]!r} that selfies cannot decode: {str(error).splitlines()[0][:80]}") from None
        if not decoded or Chem.MolFromSmiles(decoded) is None:
            raise Rejected(f"SELFIES {value[:60]!r} that decodes to no molecule RDKit parses")
    elif segment.modality is Modality.PROTEIN:
        if not value:
            raise Rejected("empty protein span")
        bad = sorted(set(value) - _RESIDUES)
        if bad:
            raise Rejected(f"protein span with non-residue characters {''.join(bad)[:20]!r}")
    return segment


def check_turns(messages: Sequence[tuple[str, Sequence[Segment]]]) -> None:
    """Known roles; a system turn only first; then user and assistant alternating, from a user
    turn to an assistant turn; no empty turn."""
    roles = [role for role, _ in messages]
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise Rejected(f"unknown role {unknown[0]!r} (roles are {', '.join(ROLES)})")
    if "assistant" not in roles:
        raise Rejected("no assistant turn")
    body = roles[1:] if roles[0] == "system" else roles
    for i, (role, segments) in enumerate(messages, start=1):
        if not segments or all(s.modality is Modality.TEXT and not s.value.strip() for s in segments):
            raise Rejected(f"turn {i}: empty {'answer' if role == 'assistant' else role + ' turn'}")
    for n, role in enumerate(body):
        expected = "user" if n % 2 == 0 else "assistant"
        if role != expected:
            raise Rejected(f"turn {n + 1 + len(roles) - len(body)}: a {role} turn out of order ({expected} expected)")
    if body[-1] != "assistant":
        raise Rejected(f"turn {len(roles)}: a user turn without an answer")

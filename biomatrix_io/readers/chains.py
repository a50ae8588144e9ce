"""Protein chains from PDB and mmCIF files (gzipped or not): per chain, the one-letter sequence and
the N/CA/C backbone, with the chains a structure tokenizer cannot use rejected with a reason.

Parsing is biotite's; what this module decides, it decides explicitly:
- Only the first model is read (NMR ensembles hold 10 to 30 near-copies of one chain).
- Alternate locations: per residue, the altloc with the highest mean occupancy; on a tie, the one
  that appears first in the file. (biotite's own `altloc="occupancy"` only knows letter ids and
  drops both numbered alternatives, `1`/`2`, that old PDB files use.)
- A chain's residues are its amino-acid residues (per the PDB chemical component dictionary) from
  ATOM records, plus HETATM amino acids joined to them through peptide bonds (MSE, CME, M3L inside
  the chain). HETATM amino acids not joined to them (a free histidine, a HETATM dipeptide) are
  ligands, not chain.
- Letters: `RESIDUE_LETTERS` first; any other amino acid takes the one-letter code the chemical
  component dictionary gives it (its parent: CME -> C, M3L -> K, SEP -> S); none there -> X.
- One residue per observed residue: residues missing from the model are not filled in, so the
  sequence and the backbone stay aligned, one code per residue.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from biomatrix_io.files import first_line, open_binary
from biomatrix_io.records import ProteinRecord, Provenance, Rejection

Read = Union[ProteinRecord, Rejection]

# Residue letters that do not depend on the chemical component dictionary: the 20 standard amino
# acids, the two genetically encoded rare ones, the PDB's ambiguity codes, and selenomethionine
# (the commonest non-standard residue in crystal structures, a methionine for sequence purposes).
RESIDUE_LETTERS: dict[str, str] = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E",
    "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F",
    "PRO": "P", "SER": "S", "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V",
    "SEC": "U", "PYL": "O",
    "ASX": "B", "GLX": "Z", "XLE": "J", "UNK": "X",
    "MSE": "M",
}
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
BACKBONE_ATOMS = ("N", "CA", "C")
_PEPTIDE_BOND = 2.0  # Angstrom: C(i)-N(i+1) is 1.33 when bonded
_CA_CA_BONDED = 4.2  # Angstrom: consecutive CAs are 3.8 apart (2.9 for cis peptides)
_BLANK_ALTLOC = ("", " ", ".", "?")


@dataclass(frozen=True)
class ChainFilter:
    """Which chains are kept. A chain failing several tests is rejected for the first one, in the
    order of the fields."""

    min_residues: int = 10  # residues with all of N, CA and C
    max_missing_backbone: float = 0.1  # fraction of residues lacking N, CA or C
    max_gap: int = 20  # longest run of residues missing inside the chain, by residue numbering


class StructureFileError(ValueError):
    """A structure file that cannot be read at all; the message is the rejection reason."""


def residue_letter(res_name: str) -> str:
    """The one-letter code of a residue name (see the module docstring for the rules)."""
    if res_name in RESIDUE_LETTERS:
        return RESIDUE_LETTERS[res_name]
    return _dictionary_letter(res_name)


@lru_cache(maxsize=None)
def _dictionary_letter(res_name: str) -> str:
    import biotite.structure.info as info

    letter = info.one_letter_code(res_name)
    return letter if letter in _LETTERS else "X"


@lru_cache(maxsize=1)
def _amino_acids() -> frozenset[str]:
    import biotite.structure.info as info

    return frozenset(info.amino_acid_names())


@lru_cache(maxsize=1)
def _nucleotides() -> frozenset[str]:
    import biotite.structure.info as info

    return frozenset(info.nucleotide_names())


def entry_id(path: str | Path) -> str:
    """The entry's name: the file name without its format and compression suffixes."""
    name = Path(path).name
    for suffix in (".gz", ".pdb", ".ent", ".cif", ".mmcif", ".bcif"):
        name = name.removesuffix(suffix)
    return name


def read_structure(path: str | Path):
    """The first model of a PDB/mmCIF/BinaryCIF file (optionally gzipped) as a biotite `AtomArray`,
    one alternate location per residue, with `hetero` and `occupancy` annotations.

    Raises FileNotFoundError for a missing file and `StructureFileError` for one that cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no structure file {path}")
    kind = Path(path.name.removesuffix(".gz")).suffix.lower()
    if kind not in (".pdb", ".ent", ".cif", ".mmcif", ".bcif"):
        raise StructureFileError(f"unknown structure format {kind or path.name!r}")
    data = _read_bytes(path)
    try:
        atoms = _parse(data, kind)
    except StructureFileError:
        raise
    except Exception as error:  # biotite raises several unrelated types for malformed files
        raise StructureFileError(f"cannot parse {kind[1:]}: {first_line(error)}") from error
    if len(atoms) == 0:
        raise StructureFileError("no atoms in the first model")
    return _resolve_altlocs(atoms)


def _read_bytes(path: Path) -> bytes:
    try:
        with open_binary(path) as handle:
            return handle.read()
    except (OSError, EOFError) as error:  # truncated or corrupt gzip stream
        raise StructureFileError(f"unreadable file: {first_line(error)}") from error


def _parse(data: bytes, kind: str):
    import biotite.structure.io.pdb as pdb
    import biotite.structure.io.pdbx as pdbx

    if kind == ".bcif":
        return pdbx.get_structure(pdbx.BinaryCIFFile.read(io.BytesIO(data)), model=1, altloc="all",
                                  extra_fields=["occupancy"], use_author_fields=True)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StructureFileError(f"not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}") from error
    if kind in (".pdb", ".ent"):
        return pdb.PDBFile.read(io.StringIO(text)).get_structure(model=1, altloc="all", extra_fields=["occupancy"])
    return pdbx.get_structure(pdbx.CIFFile.read(io.StringIO(text)), model=1, altloc="all",
                              extra_fields=["occupancy"], use_author_fields=True)


def _resolve_altlocs(atoms):
    """Keep, per residue, the atoms without altloc and those of the altloc with the highest mean
    occupancy (the first one in the file on a tie)."""
    blank = np.isin(atoms.altloc_id, _BLANK_ALTLOC)
    if blank.all():
        return atoms
    keep = blank.copy()
    residues: dict[tuple, dict[str, list[int]]] = {}
    for i in np.flatnonzero(~blank):
        key = (atoms.chain_id[i], atoms.res_id[i], atoms.ins_code[i])
        residues.setdefault(key, {}).setdefault(atoms.altloc_id[i], []).append(i)
    for by_altloc in residues.values():
        keep[max(by_altloc.values(), key=lambda index: atoms.occupancy[index].mean())] = True
    return atoms[keep]


@dataclass(frozen=True, eq=False)
class Chain:
    """One chain's protein residues, in file order. `atom_ranges[k]` are residue k's atoms (start,
    stop) in the chain's `AtomArray`."""

    chain_id: str
    res_names: tuple[str, ...]
    res_ids: np.ndarray
    backbone: np.ndarray  # (residues, 3, 3), NaN where an atom is missing
    atom_ranges: tuple[tuple[int, int], ...]

    @property
    def sequence(self) -> str:
        return "".join(residue_letter(name) for name in self.res_names)


def chain_ids(atoms) -> list[str]:
    """Chain ids in order of first appearance (a chain's HETATM may come after other chains)."""
    return list(dict.fromkeys(atoms.chain_id.tolist()))


def protein_residues(chain_atoms, chain_id: str) -> Chain:
    """The protein residues of one chain's atoms (see the module docstring for which)."""
    import biotite.structure as struc

    starts = struc.get_residue_starts(chain_atoms, add_exclusive_stop=True)
    ranges = list(zip(starts[:-1].tolist(), starts[1:].tolist()))
    amino = _amino_acids()
    candidates = [r for r in ranges if chain_atoms.res_name[r[0]] in amino]
    backbone = np.stack([_backbone(chain_atoms, r) for r in candidates]) if candidates else np.zeros((0, 3, 3))
    hetero = np.array([chain_atoms.hetero[r[0]:r[1]].all() for r in candidates], dtype=bool)
    keep = _joined(~hetero, _peptide_links(backbone))
    kept = [r for r, k in zip(candidates, keep) if k]
    return Chain(
        chain_id=chain_id,
        res_names=tuple(str(chain_atoms.res_name[r[0]]) for r in kept),
        res_ids=np.array([chain_atoms.res_id[r[0]] for r in kept], dtype=int),
        backbone=backbone[keep].astype(np.float32),
        atom_ranges=tuple(kept),
    )


def _backbone(atoms, residue: tuple[int, int]) -> np.ndarray:
    names = atoms.atom_name[residue[0]:residue[1]]
    xyz = np.full((3, 3), np.nan)
    for k, atom in enumerate(BACKBONE_ATOMS):
        hits = np.flatnonzero(names == atom)
        if hits.size:
            xyz[k] = atoms.coord[residue[0] + hits[0]]
    return xyz


def _peptide_links(backbone: np.ndarray) -> np.ndarray:
    """(residues - 1,): is residue k's C bonded to residue k+1's N?"""
    if len(backbone) < 2:
        return np.zeros(0, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.linalg.norm(backbone[1:, 0] - backbone[:-1, 2], axis=1) < _PEPTIDE_BOND


def _joined(in_chain: np.ndarray, links: np.ndarray) -> np.ndarray:
    """Residues in the chain: the ATOM ones, plus HETATM ones reached from them through peptide
    bonds (a HETATM dipeptide bonded only to itself stays out)."""
    joined = in_chain.copy()
    for k in range(len(links)):  # rightwards
        joined[k + 1] |= links[k] and joined[k]
    for k in reversed(range(len(links))):  # leftwards
        joined[k] |= links[k] and joined[k + 1]
    return joined


def longest_gap(chain: Chain) -> tuple[int, int]:
    """(missing residues, residue number before them) of the longest gap in the numbering. A jump
    in the numbering across which the CAs are bonded is a numbering convention (chymotrypsin
    numbering of trypsins), not missing residues."""
    if len(chain.res_ids) < 2:
        return 0, 0
    jumps = np.maximum(np.diff(chain.res_ids) - 1, 0)
    with np.errstate(invalid="ignore"):
        ca_step = np.linalg.norm(np.diff(chain.backbone[:, 1], axis=0), axis=1)
    jumps[ca_step <= _CA_CA_BONDED] = 0  # NaN (a CA missing) compares False: the numbering decides
    k = int(np.argmax(jumps))
    return int(jumps[k]), int(chain.res_ids[k])


def chain_problem(atoms, chain: Chain, config: ChainFilter) -> str | None:
    """Why a chain is not kept, or None. `atoms` are the chain's atoms (to name a non-protein chain)."""
    if not chain.res_names:
        names = set(atoms.res_name.tolist())
        if names & _nucleotides():
            return "non-protein chain: nucleic acid"
        if atoms.hetero.all():
            return "non-protein chain: only HETATM groups"
        return "non-protein chain: no amino-acid residues"
    complete = ~np.isnan(chain.backbone).any(axis=(1, 2))
    if complete.sum() < config.min_residues:
        return f"too short: {int(complete.sum())} residues with N, CA and C (minimum {config.min_residues})"
    missing = 1.0 - complete.mean()
    if missing > config.max_missing_backbone:
        return f"{missing:.0%} of residues lack N, CA or C (maximum {config.max_missing_backbone:.0%})"
    gap, after = longest_gap(chain)
    if gap > config.max_gap:
        return f"gap of {gap} missing residues after residue {after} (maximum {config.max_gap})"
    return None


def chain_records(atoms, path: str | Path, config: ChainFilter = ChainFilter()) -> Iterator[Read]:
    """One `ProteinRecord` or `Rejection` per chain id of a structure read by `read_structure`."""
    entry = entry_id(path)
    for chain_id in chain_ids(atoms):
        chain_atoms = atoms[atoms.chain_id == chain_id]
        chain = protein_residues(chain_atoms, chain_id)
        provenance = Provenance(str(path), f"model 1 chain {chain_id}", f"{entry}:{chain_id}")
        problem = chain_problem(chain_atoms, chain, config)
        if problem:
            yield Rejection(provenance, problem)
        else:
            yield ProteinRecord(provenance, chain.sequence, backbone=chain.backbone)


def read_chains(path: str | Path, config: ChainFilter = ChainFilter()) -> Iterator[Read]:
    """Every chain of the first model of a PDB/mmCIF file: a `ProteinRecord` (sequence and (residues,
    3, 3) N/CA/C backbone in Angstrom, NaN for missing atoms) or a `Rejection` with the reason. A
    file that cannot be read yields one Rejection with location "file"; a missing one raises
    FileNotFoundError."""
    try:
        atoms = read_structure(path)
    except StructureFileError as error:
        yield Rejection(Provenance(str(path), "file", entry_id(path)), str(error))
        return
    yield from chain_records(atoms, path, config)


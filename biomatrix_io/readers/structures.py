"""Readers of macromolecular structure files (PDB, mmCIF; gzipped or not): protein chains, and the
complexes an entry holds (protein chains together, or with small-molecule ligands).

Chains are read by `biomatrix_io.readers.chains`, the protein structure tokenizer's own
input module, so that the data pipeline and the tokenizer see the same residues.
"""

from __future__ import annotations

import itertools
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Union

import numpy as np

from biomatrix_io.readers.chains import (
    ChainFilter,
    StructureFileError,
    chain_ids,
    chain_problem,
    entry_id,
    protein_residues,
    read_chains,
    read_structure,
)

from biomatrix_io.records import ComplexRecord, Molecule3DRecord, ProteinRecord, Provenance, Rejection

# HETATM groups that are not ligands: water, crystallization and buffer additives, cryoprotectants,
# polyatomic ions, and the caps covalently ending a chain (ACE, NH2). Single-atom groups (metal and
# halide ions) are excluded by rule.
NOT_LIGANDS = frozenset({
    "HOH", "DOD", "WAT",
    "SO4", "PO4", "NO3", "CO3", "SCN", "AZI", "NH4",
    "GOL", "EDO", "PEG", "PGE", "PG4", "1PE", "P6G", "MPD", "DMS", "IPA", "EOH", "MOH",
    "ACT", "ACY", "FMT", "CIT", "FLC", "MLI", "TAR", "CAC",
    "MES", "EPE", "TRS", "BTB", "IMD", "BME", "DTT",
    "ACE", "NH2",
})

Read = Union[ProteinRecord, Rejection]
ReadComplex = Union[ComplexRecord, Rejection]


def read_structure_chains(path: str | Path, config: ChainFilter = ChainFilter()) -> Iterator[Read]:
    """One `ProteinRecord` (sequence + N/CA/C backbone) or `Rejection` per chain of the first model."""
    yield from read_chains(path, config)


# Contacts between chains: residues whose heavy atoms come this close touch (a common interface
# definition). Chain files joined into one entry must share its frame: chains whose CAs overlap
# (this many pairs closer than this) were superposed, not deposited together.
CONTACT_DISTANCE = 5.0
OVERLAP_CA_DISTANCE, OVERLAP_CA_PAIRS = 3.0, 3
_CHAIN_FILE = re.compile(r"^([0-9][A-Za-z0-9]{3})_([A-Za-z0-9])$")  # 1ez4_A: one chain of entry 1ez4


def read_complexes(path: str | Path, config: ChainFilter = ChainFilter(), entry_files: bool = False) -> Iterator[ReadComplex]:
    """The entry of one PDB/mmCIF file as a `ComplexRecord` when it has at least two kept protein
    chains, or one kept protein chain and one small-molecule ligand. The record's `contacts` count,
    for every pair of kept chains, the residue pairs within `CONTACT_DISTANCE` (heavy atoms).

    `entry_files`: a file named `<pdb id>_<chain>` (as THESEUS and other per-chain splits ship an
    entry) is read together with its sibling chain files of the same entry in its folder, as one
    entry, by the first of them in name order; each other sibling yields one Rejection saying which
    file read it. Joined chains must not overlap (files superposed after extraction are rejected).

    Accounting, two levels:
    - entries: each file yields exactly one `ComplexRecord` or one `Rejection` with location
      "entry" (not a complex) or "file" (unreadable);
    - ligand candidates (HETATM groups of the first model outside protein chains, not in
      `NOT_LIGANDS`, more than one heavy atom): each is a `Molecule3DRecord` inside the complex or
      a `Rejection` of its own (location "model 1 chain A residue 301", record id
      "1abc:A:ATP:301"), yielded before the entry's item; a ligand of an entry that is rejected is
      still built, so candidates = ligands in complexes + ligand rejections + ligands of rejected
      entries (counted in the entry rejection's reason).
    Protein chains are kept or rejected as `read_structure_chains` does; their rejections are that
    reader's to count, not this one's.
    """
    path = Path(path)
    entry, files = entry_id(path), [path]
    group = _entry_group(path) if entry_files else [path]
    if len(group) > 1:
        entry, files = _CHAIN_FILE.match(entry_id(path)).group(1), group
        if path != group[0]:
            yield Rejection(Provenance(str(path), "entry", entry_id(path)), f"a chain file of entry {entry}, read with {group[0].name}")
            return
    try:
        atoms = _read_entry(files)
    except StructureFileError as error:
        yield Rejection(Provenance(str(path), "file", entry), str(error))
        return
    proteins, chains, in_chains = [], [], np.zeros(len(atoms), dtype=bool)
    for chain_id in chain_ids(atoms):
        where = np.flatnonzero(atoms.chain_id == chain_id)
        chain = protein_residues(atoms[where], chain_id)
        for start, stop in chain.atom_ranges:
            in_chains[where[start:stop]] = True
        if chain_problem(atoms[where], chain, config) is None:
            provenance = Provenance(str(path), f"model 1 chain {chain_id}", f"{entry}:{chain_id}")
            proteins.append(ProteinRecord(provenance, chain.sequence, backbone=chain.backbone))
            chains.append(_residue_atoms(atoms[where], chain))
    ligands = []
    for ligand in _ligands(atoms, ~in_chains, path, entry):
        if isinstance(ligand, Rejection):
            yield ligand
        else:
            ligands.append(ligand)
    provenance = Provenance(str(path), "entry", entry)
    overlap = _overlap(proteins) if len(files) > 1 else None
    if overlap:
        yield Rejection(provenance, f"chain files not in one frame: chains {overlap} overlap (superposed, not deposited together)")
    elif len(proteins) >= 2 or (proteins and ligands):
        yield ComplexRecord(provenance, tuple(proteins), tuple(ligands), chain_contacts(chains))
    else:
        yield Rejection(provenance, f"not a complex: {len(proteins)} kept protein chain(s), {len(ligands)} ligand(s)")


def chain_file_groups(files: Iterable[str | Path]) -> list[list[Path]]:
    """Files grouped by entry (`<pdb id>_<chain>` names of one folder and format), each group in
    name order, groups in the order of their first file; any other file is a group of its own."""
    groups: dict[tuple, list[Path]] = {}
    for path in sorted(Path(f) for f in files):
        key = _chain_file_key(path) or (path,)
        groups.setdefault(key, []).append(path)
    return list(groups.values())


def _chain_file_key(path: Path) -> tuple | None:
    match = _CHAIN_FILE.match(entry_id(path))
    return (path.parent, match.group(1), path.name[len(match.group(0)):]) if match else None


def _entry_group(path: Path) -> list[Path]:
    key = _chain_file_key(path)
    if key is None:
        return [path]
    return sorted(p for p in path.parent.glob(f"{key[1]}_*") if _chain_file_key(p) == key)


def _read_entry(files: list[Path]):
    """The first models of an entry's files as one `AtomArray` (chain ids must not repeat)."""
    import biotite.structure as struc

    parts = [read_structure(f) for f in files]
    seen: set[str] = set()
    for f, part in zip(files, parts):
        ids = set(chain_ids(part))
        if ids & seen:
            raise StructureFileError(f"chain {sorted(ids & seen)[0]} of {f.name} is also in another file of the entry")
        seen |= ids
    return parts[0] if len(parts) == 1 else struc.concatenate(parts)


def _residue_atoms(chain_atoms, chain) -> tuple[np.ndarray, np.ndarray]:
    """(heavy-atom coordinates, residue index of each) of a chain's kept residues."""
    ranges = chain.atom_ranges
    index = np.concatenate([np.full(stop - start, k) for k, (start, stop) in enumerate(ranges)]) if ranges else np.zeros(0, int)
    rows = np.concatenate([np.arange(start, stop) for start, stop in ranges]) if ranges else np.zeros(0, int)
    heavy = chain_atoms.element[rows] != "H"
    return chain_atoms.coord[rows][heavy], index[heavy]


def chain_contacts(chains: list[tuple[np.ndarray, np.ndarray]]) -> tuple[tuple[int, int, int], ...]:
    """(i, j, residue pairs within `CONTACT_DISTANCE`) for every pair of chains i < j."""
    from biotite.structure import CellList

    contacts = []
    for (i, (xyz_a, res_a)), (j, (xyz_b, res_b)) in itertools.combinations(enumerate(chains), 2):
        pairs = 0
        if len(xyz_a) and len(xyz_b) and _boxes_near(xyz_a, xyz_b):
            near = CellList(xyz_b, CONTACT_DISTANCE).get_atoms(xyz_a, CONTACT_DISTANCE)
            rows, columns = np.nonzero(near >= 0)
            pairs = len(set(zip(res_a[rows].tolist(), res_b[near[rows, columns]].tolist())))
        contacts.append((i, j, pairs))
    return tuple(contacts)


def _boxes_near(a: np.ndarray, b: np.ndarray) -> bool:
    gap = np.maximum(a.min(axis=0) - b.max(axis=0), b.min(axis=0) - a.max(axis=0))
    return bool(np.all(gap <= CONTACT_DISTANCE))


def _overlap(proteins: list[ProteinRecord]) -> str | None:
    """'A and B' for the first two chains whose CAs overlap, or None."""
    for a, b in itertools.combinations(proteins, 2):
        ca_a, ca_b = a.backbone[:, 1], b.backbone[:, 1]
        with np.errstate(invalid="ignore"):
            close = np.linalg.norm(ca_a[:, None] - ca_b[None], axis=-1) < OVERLAP_CA_DISTANCE
        if close.sum() >= OVERLAP_CA_PAIRS:
            return f"{a.provenance.record_id.rsplit(':', 1)[-1]} and {b.provenance.record_id.rsplit(':', 1)[-1]}"
    return None


def _ligands(atoms, outside_chains: np.ndarray, path: Path, entry: str) -> Iterator[Union[Molecule3DRecord, Rejection]]:
    import biotite.structure as struc

    candidates = atoms[outside_chains & atoms.hetero]
    if len(candidates) == 0:
        return
    starts = struc.get_residue_starts(candidates, add_exclusive_stop=True)
    for start, stop in zip(starts[:-1], starts[1:]):
        group = candidates[start:stop]
        name = str(group.res_name[0])
        heavy = group[group.element != "H"]
        if name in NOT_LIGANDS or len(heavy) < 2:
            continue
        chain, number = str(group.chain_id[0]), f"{group.res_id[0]}{group.ins_code[0]}".strip()
        provenance = Provenance(str(path), f"model 1 chain {chain} residue {number}", f"{entry}:{chain}:{name}:{number}")
        try:
            mol = ligand_molecule(heavy)
        except LigandError as error:
            yield Rejection(provenance, str(error))
            continue
        yield Molecule3DRecord(provenance, mol, _component_name(name), {"ccd_id": name})


class LigandError(ValueError):
    """A ligand that cannot be built into a molecule; the message is the rejection reason."""


def ligand_molecule(heavy):
    """An RDKit molecule of one ligand's heavy atoms (a biotite `AtomArray`, source order) with the
    bond orders and formal charges of its PDB chemical component, and hydrogens added by RDKit
    with coordinates: one conformer, heavy atoms at the file's coordinates. Hydrogens in the file are
    not used, so that every ligand has the component's protonation whatever the experiment saw."""
    import biotite.structure as struc
    from biotite.interface.rdkit import to_mol
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    name = str(heavy.res_name[0])
    reference = _component_heavy_atoms(name)
    if reference is None:
        raise LigandError(f"{name} is not in the PDB chemical component dictionary")
    index_of = {atom: k for k, atom in enumerate(reference.atom_name.tolist())}
    observed = heavy.atom_name.tolist()
    unknown = [atom for atom in observed if atom not in index_of]
    if unknown:
        raise LigandError(f"atom {unknown[0]} is not in component {name}")
    if len(set(observed)) != len(observed):
        raise LigandError("duplicate atom names")
    missing = [atom for atom in index_of if atom not in set(observed)]
    if missing:
        raise LigandError(f"{len(missing)} of {len(reference)} heavy atoms missing ({', '.join(missing[:3])})")
    order = np.array([index_of[atom] for atom in observed])
    ligand = heavy.copy()
    ligand.set_annotation("charge", reference.charge[order])
    position = np.empty(len(order), dtype=int)
    position[order] = np.arange(len(order))  # reference index -> index in the file's order
    bonds = reference.bonds.as_array()
    bonds[:, :2] = position[bonds[:, :2]]
    ligand.bonds = struc.BondList(len(ligand), bonds)
    try:
        mol = to_mol(ligand, explicit_hydrogen=False)
        Chem.SanitizeMol(mol)
        return Chem.AddHs(mol, addCoords=True)
    except Exception as error:  # RDKit and biotite raise several unrelated types for chemistry problems
        raise LigandError("RDKit: " + (str(error).strip().splitlines() or [type(error).__name__])[0]) from error


@lru_cache(maxsize=None)
def _component_heavy_atoms(name: str):
    """The component's heavy atoms with charges and bonds (types included), or None if unknown."""
    import biotite.structure.info as info

    with warnings.catch_warnings():  # components without ideal coordinates fall back to model ones
        warnings.simplefilter("ignore", UserWarning)
        try:
            component = info.residue(name)
        except KeyError:
            return None
    return component[component.element != "H"]


@lru_cache(maxsize=None)
def _component_name(name: str) -> str | None:
    import biotite.structure.info as info

    return info.full_name(name)

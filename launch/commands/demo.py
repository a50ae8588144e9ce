"""`biomatrix demo`: the longest working chain of the stack, on the real data the install fetched.

Today: build the tokenizer directory, round-trip real molecules (QM9, MOSES) and real proteins
through it, and check that `transformers.AutoTokenizer` on the written directory gives the same ids;
then encode held-out QM9 conformers into molecule-3D tokens (BioMatrix's released structure
tokenizer), through the unified tokenizer's ids and back to 3D molecules, written as SDF; the same
for held-out PDB chains and their <S_k> backbone tokens, written as PDB; then
build the demo corpus (`launch/configs/data/demo.yaml`) into Megatron indexed shards and a blend,
and decode one document of every prefix back to typed segments; then build the demo SFT corpus
(`launch/configs/sft_data/demo.yaml`: every instruction task family, packed shards and chat records)
and print its per-task counts and one rendered record per category; then pretrain the tiny Qwen3-shaped
model on those shards with megatron-core (one process), print its loss curve and plot it (PNG),
with checkpoints and an mlflow run beside the plot; then export the trained checkpoint to a Hugging
Face directory and generate from it with transformers.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
from pathlib import Path

import numpy as np


def _real_inputs(n_molecules: int, n_proteins: int) -> tuple[list[str], list[tuple[str, str]]]:
    from Bio import SeqIO

    from biomatrix_io.readers import packaged
    from biomatrix_io.readers.molecules import read_smiles_table

    half = n_molecules // 2
    qm9 = itertools.islice(read_smiles_table(packaged.qm9_csvs()[0], id_column="XYZ_file"), 0, None, 5000)
    moses = read_smiles_table(packaged.moses_csvs()[1])
    smiles = [r.smiles for r in itertools.chain(itertools.islice(qm9, half), itertools.islice(moses, n_molecules - half))]
    with gzip.open(packaged.pyrodigal_protein_fastas()[0], "rt") as handle:
        proteins = [(r.id, str(r.seq).rstrip("*")) for r in itertools.islice(SeqIO.parse(handle, "fasta"), n_proteins)]
    return smiles, proteins


def run(args: argparse.Namespace) -> int:
    import selfies as sf
    from transformers import AutoTokenizer

    from megatron_bio.tokenizer import Modality, Segment
    from megatron_bio.tokenizer.hf_export import write_hf_tokenizer_dir
    from megatron_bio.tokenizer.molecule_forms import canonical_selfies, canonical_smiles
    from megatron_bio.tokenizer_config import TokenizerConfig

    workdir = Path(args.workdir)
    tok = TokenizerConfig().build()
    tok_dir = write_hf_tokenizer_dir(tok, workdir / "tokenizer")
    print(f"[tokenizer] {tok_dir}: {tok.vocab_size} tokens ({tok.base_vocab_size} Qwen3 + "
          f"{tok.family_counts()}), padded to {tok.padded_vocab_size(1)} for TP=1")
    hf = AutoTokenizer.from_pretrained(tok_dir)
    smiles_list, proteins = _real_inputs(args.molecules, args.proteins)
    failures = 0
    for smiles in smiles_list:
        canonical, selfies = canonical_selfies(smiles)
        document = [
            Segment(Modality.TEXT, "The molecule "),
            Segment(Modality.SMILES, canonical),
            Segment(Modality.TEXT, " is written in SELFIES as "),
            Segment(Modality.SELFIES, selfies),
        ]
        ids = tok.encode(document)
        decoded = tok.decode(ids)
        back = canonical_smiles(sf.decoder(decoded[3].value))
        same_hf = hf(tok.render(document))["input_ids"] == ids
        ok = back == canonical and decoded == document and same_hf
        failures += not ok
        print(f"[molecule] {canonical:<40} {len(ids):>3} ids, SELFIES {len(decoded[3].value.split('][')):>2} "
              f"symbols -> {back:<40} {'ok' if ok else 'MISMATCH'}")
    for name, sequence in proteins:
        document = [Segment(Modality.TEXT, f"Protein {name}: "), Segment(Modality.PROTEIN, sequence)]
        ids = tok.encode(document)
        decoded = tok.decode(ids)
        residues = len(ids) - len(tok.encode(document[:1])) - 2
        ok = decoded == document and residues == len(sequence) and hf(tok.render(document))["input_ids"] == ids
        failures += not ok
        print(f"[protein]  {name:<32} {len(sequence):>4} residues -> {residues:>4} residue tokens "
              f"{'ok' if ok else 'MISMATCH'}")
    failures += _structures(tok, workdir, args.molecules)
    failures += _protein_structures(tok, workdir, args.proteins)
    failures += _shards(tok, workdir)
    failures += _sft_corpus(workdir)
    failures += _pretrain(workdir)
    failures += _release(workdir)
    print(f"[demo] {len(smiles_list)} molecules, {len(proteins)} proteins, {args.molecules} 3D molecules, {failures} failures")
    return 1 if failures else 0


def _structures(tok, workdir: Path, count: int) -> int:
    """QM9 conformer -> [SYMBOL CODE] tokens -> unified ids -> tokens -> 3D molecule (SDF)."""
    from rdkit import Chem

    from biomatrix_io.records import Molecule3DRecord
    from megatron_bio.structure.geometry import kabsch_rmsd
    from megatron_bio.structure.molecule.config import MoleculeStructureConfig
    from megatron_bio.structure.molecule.corpus import molecules
    from megatron_bio.tokenizer import Modality, Segment

    structure = MoleculeStructureConfig(checkpoint="released").tokenizer()
    records = [r for r in itertools.islice(molecules("qm9:test"), count) if isinstance(r, Molecule3DRecord)]
    failures = 0
    writer = Chem.SDWriter(str(workdir / "molecules_3d.sdf"))
    for record, encoded in zip(records, structure.encode_many([r.mol for r in records])):
        ids = tok.encode([Segment(Modality.TEXT, "Its conformation: "), Segment(Modality.MOLECULE_3D, encoded.tokens)])
        tokens = tok.decode(ids)[1].value
        mol = structure.decode(tokens)
        rmsd = kabsch_rmsd(encoded.coordinates, mol.GetConformer().GetPositions())
        ok = rmsd < 1.0
        failures += not ok
        mol.SetProp("_Name", record.provenance.record_id)
        writer.write(mol)
        print(f"[3d]       {record.provenance.record_id:<12} {mol.GetNumAtoms():>2} atoms -> {len(ids):>3} ids -> "
              f"RMSD {rmsd:.3f} A {'ok' if ok else 'MISMATCH'}{' (fallback)' if tokens != encoded.tokens else ''}")
    writer.close()
    return failures


def _protein_structures(tok, workdir: Path, count: int) -> int:
    """Held-out PDB chains -> <S_k> codes (the default protein tokenizer) -> unified ids -> codes ->
    backbone (PDB), scored by TM-score against the file."""
    from megatron_bio.structure.protein.backbone import write_backbone
    from megatron_bio.structure.protein.codec import DEFAULT, encode_chain, load
    from megatron_bio.structure.protein.corpus import read_corpus, split, structure_files
    from megatron_bio.structure.protein.metrics import tm_score
    from megatron_bio.tokenizer import Modality, Segment

    structure = load(DEFAULT)
    chains, _ = read_corpus(structure_files())
    whole = [c for c in split(chains)[1] if not np.isnan(c.backbone).any()][:count]
    failures = 0
    for chain in whole:
        codes = encode_chain(structure, chain.backbone, chain.sequence)
        ids = tok.encode([Segment(Modality.PROTEIN, chain.sequence), Segment(Modality.PROTEIN_3D, tuple(codes))])
        sequence, structure_codes = (segment.value for segment in tok.decode(ids))
        decoded = structure.decode(np.array(structure_codes))
        write_backbone(decoded, sequence, workdir / f"{chain.name.replace(':', '_')}_decoded.pdb")
        tm = tm_score(chain.backbone, decoded, chain.sequence)
        ok = sequence == chain.sequence and len(structure_codes) == len(sequence) and tm > 0.9
        failures += not ok
        print(f"[protein3d] {chain.name:<14} {len(sequence):>4} residues -> {len(ids):>4} ids ({len(codes)} <S_k>) -> "
              f"TM {tm:.3f} {'ok' if ok else 'MISMATCH'}")
    return failures


def _shards(tok, workdir: Path) -> int:
    """The demo corpus through both pipeline stages; one decoded document per prefix."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    from data_pipeline.build import build
    from data_pipeline.config import DataConfig
    from launch.commands.data import DEFAULT_CONFIG
    from biomatrix_io.config import load_config

    config = load_config(DataConfig, DEFAULT_CONFIG, [f"out={workdir / 'data'}"])
    summary = build(config)
    shards = Path(config.out) / "shards"
    for prefix, tokens in summary["prefixes"].items():
        dataset = IndexedDataset(str(shards / prefix))  # kept alive: items are views of its memory map
        first = dataset[0].tolist()
        shown = tok.render(tok.decode(first[:-1])).replace("\n", " ")
        print(f"[shards]   {prefix:<18} {tokens:>9,} tokens, weight {summary['blend'][prefix]:.3f}: {shown[:90]}")
    for prefix, why in summary["absent_prefixes"].items():
        print(f"[shards]   {prefix:<18} absent: {why}")
    print(f"[shards]   blend for Megatron's --data-path: {shards / 'blend.txt'}")
    return len(summary["absent_prefixes"])


def _sft_corpus(workdir: Path) -> int:
    """The demo SFT corpus (every task family, launch/configs/sft_data/demo.yaml): per-task counts
    and one rendered record per category."""
    from biomatrix_io.config import load_config
    from data_pipeline.sft.build import SFTLayout, build
    from data_pipeline.sft.config import SFTDataConfig
    from data_pipeline.sft.report import examples_text, task_table
    from launch.commands.sft_data import DEFAULT_CONFIG

    config = load_config(SFTDataConfig, DEFAULT_CONFIG, [f"out={workdir / 'sft_data'}"])
    manifest = build(config)
    layout = SFTLayout(Path(config.out))
    for line in [*task_table(manifest).splitlines(), "", *examples_text(layout.records).splitlines()]:
        print(f"[sft-data] {line}")
    print(f"[sft-data] packed shards: {layout.shards}; chat records per split and task: {layout.records}")
    return sum(1 for counts in manifest["per_task"].values() if not counts["written"].get("train"))


def _pretrain(workdir: Path) -> int:
    """The tiny recipe on the demo shards, in this process (a one-rank gloo group), from scratch:
    checkpoints, the mlflow store and the loss plot go to <workdir>/pretrain."""
    import os
    import shutil
    import socket

    from launch.commands.train import JOBS
    from biomatrix_io.config import load_config
    from megatron_bio.training.config import PretrainConfig
    from megatron_bio.training.loop import main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)}.items():
        os.environ.setdefault(key, value)
    output = workdir / "pretrain"
    shutil.rmtree(output, ignore_errors=True)
    config = load_config(PretrainConfig, JOBS["pretrain"][1], [f"data.shards={workdir / 'data' / 'shards'}", f"output={output}"])
    losses = main(config)
    width = 40
    low, high = min(losses), max(losses)
    for step, loss in enumerate(losses, start=1):
        bar = "#" * (1 + int((loss - low) / max(high - low, 1e-9) * (width - 1)))
        print(f"[pretrain] step {step:>3} loss {loss:7.4f} {bar}")
    decreased = sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    print(f"[pretrain] tiny model ({config.model.num_layers} layers, hidden {config.model.hidden_size}), "
          f"{len(losses)} steps: loss {losses[0]:.3f} -> {losses[-1]:.3f} {'ok' if decreased else 'DID NOT DECREASE'}")
    print(f"[pretrain] loss plot {output / 'loss.png'}; checkpoints {config.checkpoints}; "
          f"mlflow store sqlite:///{output.resolve()}/mlflow.db")
    return 0 if decreased else 1


def _release(workdir: Path) -> int:
    """The trained checkpoint exported to Hugging Face, loaded by transformers (no remote code), sampled."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from megatron_bio.convert.megatron_to_hf import megatron_to_hf

    out = workdir / "release"
    shutil.rmtree(out, ignore_errors=True)
    report = megatron_to_hf(str(workdir / "pretrain" / "checkpoints"), str(out))
    print(f"[release]  {out}: {report['shards']} safetensors shard(s), {report['bytes'] / 1e6:.1f} MB {report['dtype']}, "
          f"vocabulary {report['vocab_size']:,} ({report['trimmed_rows']} padding rows trimmed), {report['seconds']:.1f} s")
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    prompt = "<|mol_smi_start|>CC(=O)"
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        outputs = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    text = tokenizer.decode(outputs[0], skip_special_tokens=False)
    ok = text.startswith(prompt) and outputs.shape[1] > inputs["input_ids"].shape[1]
    print(f"[release]  transformers {type(model).__name__} ({model.dtype}) greedy from {prompt!r}: {text!r} "
          f"{'ok' if ok else 'MISMATCH'}")
    return 0 if ok else 1


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("demo", help="run the longest working chain on the embedded real data")
    parser.add_argument("--workdir", default="out/demo")
    parser.add_argument("--molecules", type=int, default=8)
    parser.add_argument("--proteins", type=int, default=4)
    parser.set_defaults(run=run)

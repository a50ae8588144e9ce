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
Face directory and generate from it with transformers; then fine-tune that checkpoint on the packed
SFT corpus (the same loop, the SFT job: one attention block per sample), print the validation loss
per task family before and after, export it as a chat model (generation stops at <|im_end|>) and
ask it one held-out instruction of each category through the chat template, printing the prompt,
the reference answer and the model's.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import shutil
from pathlib import Path

import numpy as np

# A few steps of sft_tiny.yaml: enough to lower the validation loss of the demo's pretrained model.
SFT_DEMO_SCHEDULE = ["schedule.train_steps=8", "schedule.global_batch=2", "validation.every=8", "validation.steps=2"]


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
    import torch.distributed as dist
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
    try:
        failures += _pretrain(workdir)
        failures += _release(workdir)
        failures += _sft(workdir)
        failures += _chat(workdir)
        failures += _evaluate(workdir, args.eval_limit)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
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


def _train(recipe: str, overrides: list[str], tag: str) -> tuple[object, list[dict]]:
    """One job of the training loop in this process (a one-rank gloo group, kept for the next job):
    its config and the records it logged (printed as the trainer prints them), the per-step losses
    drawn as bars at the end."""
    import json
    import socket

    from biomatrix_io.config import load_config
    from launch.commands.train import JOBS
    from megatron_bio.training import config as configs
    from megatron_bio.training.loop import train

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)}.items():
        os.environ.setdefault(key, value)
    config_class, default, _ = JOBS[recipe]
    config = load_config(getattr(configs, config_class), default, overrides)
    shutil.rmtree(config.output, ignore_errors=True)
    records: list[dict] = []

    def log(record: dict) -> None:
        records.append(record)
        print(f"[{tag}] {json.dumps(record)}", flush=True)

    train(config, log)
    losses = [r["loss"] for r in records if "loss" in r]
    low, high = min(losses), max(losses)
    for step, loss in enumerate(losses, start=1):
        bar = "#" * (1 + int((loss - low) / max(high - low, 1e-9) * 39))
        print(f"[{tag}] step {step:>3} loss {loss:7.4f} {bar}")
    return config, records


def _pretrain(workdir: Path) -> int:
    """The tiny recipe on the demo shards, from scratch: checkpoints, the mlflow store and the loss
    plot go to <workdir>/pretrain."""
    output = workdir / "pretrain"
    config, records = _train("pretrain", [f"data.shards={workdir / 'data' / 'shards'}", f"output={output}"], "pretrain")
    losses = [r["loss"] for r in records if "loss" in r]
    decreased = sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    print(f"[pretrain] tiny model ({config.model.num_layers} layers, hidden {config.model.hidden_size}), "
          f"{len(losses)} steps: loss {losses[0]:.3f} -> {losses[-1]:.3f} {'ok' if decreased else 'DID NOT DECREASE'}")
    print(f"[pretrain] loss plot {output / 'loss.png'}; checkpoints {config.checkpoints}; "
          f"mlflow store sqlite:///{output.resolve()}/mlflow.db")
    return 0 if decreased else 1


def _sft(workdir: Path) -> int:
    """The tiny recipe fine-tuned on the demo SFT corpus (packs of 2,048 tokens, one block-diagonal
    causal mask per pack) from the demo's pretrained checkpoint; validation loss per task family
    before and after, in <workdir>/sft."""
    output = workdir / "sft"
    config, records = _train("sft", [f"data.shards={workdir / 'sft_data' / 'shards'}", f"output={output}",
                                     f"checkpoint.init_from={workdir / 'pretrain' / 'checkpoints'}",
                                     *SFT_DEMO_SCHEDULE], "sft")
    validations = [r for r in records if "val_loss" in r]
    first, last = validations[0], validations[-1]
    for key in sorted(k for k in last if k.startswith("val_loss/")):
        print(f"[sft] {key[len('val_loss/'):]:<28} validation loss {first[key]:7.4f} -> {last[key]:7.4f}")
    packing = records[0]["corpus"]["train"]
    lowered = last["val_loss"] < first["val_loss"]
    print(f"[sft] {config.schedule.train_steps} steps on packs of {config.sequence_length} tokens "
          f"({packing['packing_efficiency']:.1%} filled): validation loss {first['val_loss']:.3f} -> "
          f"{last['val_loss']:.3f} {'ok' if lowered else 'DID NOT DECREASE'}; loss plot {output / 'loss.png'}")
    return 0 if lowered else 1


def _export(checkpoints: Path, out: Path, tag: str):
    """A checkpoint as a Hugging Face release, loaded back by transformers (no remote code)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from megatron_bio.convert.megatron_to_hf import megatron_to_hf

    shutil.rmtree(out, ignore_errors=True)
    report = megatron_to_hf(str(checkpoints), str(out))
    print(f"[{tag}] {out}: {report['shards']} safetensors shard(s), {report['bytes'] / 1e6:.1f} MB {report['dtype']}, "
          f"vocabulary {report['vocab_size']:,} ({report['trimmed_rows']} padding rows trimmed), {report['seconds']:.1f} s")
    return AutoTokenizer.from_pretrained(out), AutoModelForCausalLM.from_pretrained(out, dtype="auto")


def _release(workdir: Path) -> int:
    """The pretrained checkpoint exported and sampled greedily."""
    import torch

    tokenizer, model = _export(workdir / "pretrain" / "checkpoints", workdir / "release", "release")
    prompt = "<|mol_smi_start|>CC(=O)"
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        outputs = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    text = tokenizer.decode(outputs[0], skip_special_tokens=False)
    ok = text.startswith(prompt) and outputs.shape[1] > inputs["input_ids"].shape[1]
    print(f"[release] transformers {type(model).__name__} ({model.dtype}) greedy from {prompt!r}: {text!r} "
          f"{'ok' if ok else 'MISMATCH'}")
    return 0 if ok else 1


def _chat(workdir: Path) -> int:
    """The fine-tuned checkpoint exported (its generation stops at <|im_end|>) and asked one held-out
    instruction of each category, as the model card's Quick Start does: chat template, greedy."""
    import torch

    from data_pipeline.sft.report import first_per_category

    tokenizer, model = _export(workdir / "sft" / "checkpoints", workdir / "release_sft", "chat")
    stop = model.generation_config.eos_token_id
    failures = 0
    for category, record in sorted(first_per_category(workdir / "sft_data" / "records", "test").items()):
        messages = record["messages"][:-1]
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            outputs = model.generate(**inputs, max_new_tokens=24, do_sample=False)
        new = outputs[0, inputs["input_ids"].shape[1]:]
        ok = len(new) > 0
        failures += not ok
        answer = tokenizer.decode(new, skip_special_tokens=True)
        print(f"[chat] --- {category}: {record['task']} ({record['provenance']})")
        print(f"[chat] user:      {_shown(messages[-1]['content'])}")
        print(f"[chat] reference: {_shown(record['messages'][-1]['content'])}")
        print(f"[chat] model:     {_shown(answer)}{' (stopped at <|im_end|>)' if new[-1] == stop else ''}")
    return failures


# A few tasks of each category: the evaluation job on the chat release, as `biomatrix eval run` runs it.
DEMO_TASKS = ("name_conversion_i2s.smiles", "text_to_molecule.selfies", "property_solubility.smiles",
              "smiles_to_3d.smiles", "go_molecular_function", "protein_folding", "protein_inverse_folding",
              "molecule_protein_affinity.smiles", "go_term_definition", "gc_content")


def _evaluate(workdir: Path, limit: int) -> int:
    """The fine-tuned release evaluated on held-out records of every category (lm-evaluation-harness,
    constrained decoding for structured answers), its report printed."""
    from evals.job import EvalRun, go_offline, run_evaluation

    go_offline()
    summary = run_evaluation(EvalRun(out=str(workdir / "eval"), tasks=list(DEMO_TASKS), model=str(workdir / "release_sft"),
                                     data=str(workdir / "sft_data"), limit=limit, batch_size=4,
                                     metric_options={"train_size": 2000}))
    report = Path(summary["report"]).read_text()
    print("\n".join(f"[eval] {line}" for line in report.splitlines() if line.startswith(("|", "#"))))
    print(f"[eval] report {summary['report']}, lm-eval results and per-sample logs in {workdir / 'eval' / 'lm_eval'}, "
          f"mlflow run {summary.get('mlflow_run_id')}")
    return 0 if len(summary["results"]) == len(DEMO_TASKS) else 1


def _shown(text: str, width: int = 160) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[:width - 5] + " ..."


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("demo", help="run the longest working chain on the embedded real data")
    parser.add_argument("--workdir", default="out/demo")
    parser.add_argument("--molecules", type=int, default=8)
    parser.add_argument("--proteins", type=int, default=4)
    parser.add_argument("--eval-limit", type=int, default=2, help="held-out records per evaluated task")
    parser.set_defaults(run=run)

"""The data build end to end on the real demo sources: every prefix, manifests that agree with the
files, megatron-core reading the blend, documents that decode to valid typed segments, the same
bytes whatever the worker count, and a killed build that resumes to the same bytes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import selfies as sf
import torch.distributed as dist
import yaml
from rdkit import Chem

from data_pipeline.build import build
from data_pipeline.compose import PREFIXES
from data_pipeline.config import DataConfig
from data_pipeline.normalize import protein_structure_encoder
from biomatrix_io.blend import read_blend
from launch.commands.data import DEFAULT_CONFIG
from biomatrix_io.config import from_dict
from megatron_bio.tokenizer.families import RESIDUES
from megatron_bio.tokenizer.segments import NUCLEIC_ALPHABETS, Modality
from megatron_bio.tokenizer.unified import parse_molecule_3d

SMALL_LIMIT = 20


def _small_config(out: Path) -> dict:
    """The demo config with every source cut to SMALL_LIMIT records."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["out"] = str(out)
    data["records_per_unit"] = 10
    for source in data["sources"].values():
        source["limit"] = min(source.get("limit") or SMALL_LIMIT, SMALL_LIMIT)
    return data


def _files(root: Path) -> dict[str, bytes]:
    shards = root / "shards"
    return {str(p.relative_to(shards)): p.read_bytes() for p in sorted(shards.rglob("*"))
            if p.suffix in (".bin", ".idx") or p.name.endswith(".manifest.json")}


@pytest.fixture(scope="module")
def demo(demo_build):
    return demo_build


@pytest.fixture(scope="module")
def small_one_worker(tmp_path_factory):
    config = from_dict(DataConfig, _small_config(tmp_path_factory.mktemp("small1")))
    build(config, workers=1, progress=False)
    return Path(config.out)


def test_demo_build_produces_every_prefix(demo):
    config, summary, shards = demo
    encoder, why = protein_structure_encoder(config.normalize)
    needs_protein_structure = {"protein/3d"}
    expected = set(PREFIXES) if encoder else set(PREFIXES) - needs_protein_structure
    assert expected <= set(summary["prefixes"])
    for prefix in expected:
        assert (shards / f"{prefix}.bin").stat().st_size > 0 and (shards / f"{prefix}.idx").is_file()
    if encoder is None:
        assert summary["protein_structure"] == [why]


def test_every_record_is_written_or_rejected_with_a_reason(demo):
    _, summary, _ = demo
    for name, source in summary["sources"].items():
        assert source["records"] == source["written"] + sum(source["rejected"].values()), name
        assert source["written"] > 0, name
        assert all(reason.strip() for reason in source["rejected"])


def test_manifests_agree_with_the_files(demo):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    config, summary, shards = demo
    for prefix, tokens in summary["prefixes"].items():
        manifest = json.loads((shards / f"{prefix}.manifest.json").read_text())
        dataset = IndexedDataset(str(shards / prefix))
        assert dataset.index.dtype == np.int32
        assert manifest["documents"] == len(dataset) and manifest["tokens"] == tokens == int(dataset.sequence_lengths.sum())
        assert sum(manifest["tokens_by_modality"].values()) == tokens
        assert manifest["tokens_by_modality"]["control"] >= manifest["documents"]  # at least the EOD of each
        for source in manifest["sources"].values():
            assert all(len(sha) == 64 for sha in source["files"].values())
        assert manifest["package_versions"]["megatron-core"] and len(manifest["config_hash"]) == 64
    blend_txt = (shards / "blend.txt").read_text().split()
    prefixes, weights = read_blend(shards)
    assert blend_txt[1::2] == prefixes and np.allclose([float(w) for w in blend_txt[::2]], weights)
    assert abs(sum(weights) - 1) < 1e-5


def test_megatron_core_reads_the_blend(demo, tmp_path):
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron_bio.tokenizer.megatron_adapter import MegatronTokenizerAdapter

    config, _, shards = demo
    tokenizer = config.tokenizer.build()
    if not dist.is_initialized():
        dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    gpt_config = GPTDatasetConfig(
        random_seed=7, sequence_length=256, blend=read_blend(shards), split="98,2,0",
        tokenizer=MegatronTokenizerAdapter(tokenizer), reset_position_ids=True, reset_attention_mask=True,
        eod_mask_loss=False, path_to_cache=str(tmp_path / "cache"),
    )
    train, valid, _ = BlendedMegatronDatasetBuilder(GPTDataset, [200, 10, 0], lambda: True, gpt_config).build()
    assert len(train) >= 200 and len(valid) >= 10
    used = {int(train.dataset_index[i]) for i in range(len(train))}
    assert len(used) == len(gpt_config.blend[0])  # every prefix of the blend is sampled
    for i in range(0, 200, 20):
        tokens = train[i]["tokens"].numpy()
        assert tokens.max() < tokenizer.vocab_size and (tokens >= 0).all()


def _check_segment(segment, structure) -> None:
    if segment.modality is Modality.SMILES:
        assert Chem.MolFromSmiles(segment.value) is not None, segment.value
    elif segment.modality is Modality.SELFIES:
        assert Chem.MolFromSmiles(sf.decoder(segment.value)) is not None, segment.value
    elif segment.modality is Modality.PROTEIN:
        assert segment.value and set(segment.value) <= {letter for letter, _ in RESIDUES}
    elif segment.modality is Modality.MOLECULE_3D:
        pairs = parse_molecule_3d(segment.value, "shard")
        assert pairs and structure.decode(segment.value).GetNumAtoms() > 0
    elif segment.modality is Modality.PROTEIN_3D:
        assert segment.value and all(0 <= c < 4096 for c in segment.value)
    elif segment.modality in NUCLEIC_ALPHABETS:
        assert segment.value and set(segment.value) <= set(NUCLEIC_ALPHABETS[segment.modality]), segment.value[:40]


def test_sampled_documents_decode_to_valid_segments(demo):
    from megatron.core.datasets.indexed_dataset import IndexedDataset
    from megatron_bio.structure.molecule.codec import MoleculeStructureTokenizer
    from megatron_bio.structure.molecule.config import checkpoint_path

    config, summary, shards = demo
    tokenizer = config.tokenizer.build()
    structure = MoleculeStructureTokenizer.from_checkpoint(checkpoint_path(config.normalize.molecule_structure))
    rng = np.random.default_rng(0)
    expected_modalities = {"molecule/1d": {Modality.SMILES, Modality.SELFIES}, "molecule/3d": {Modality.MOLECULE_3D},
                           "protein/1d": {Modality.PROTEIN}, "protein/3d": {Modality.PROTEIN_3D},
                           "cross/interleaved": {Modality.TEXT}, "nucleic/genome": {Modality.DNA},
                           "nucleic/rna": {Modality.RNA}, "nucleic/gene_protein": {Modality.DNA, Modality.RNA},
                           "nucleic/interleaved": {Modality.DNA, Modality.RNA, Modality.PROTEIN}}
    for prefix in summary["prefixes"]:
        dataset = IndexedDataset(str(shards / prefix))
        seen = set()
        for index in rng.choice(len(dataset), size=min(25, len(dataset)), replace=False):
            ids = dataset[int(index)].tolist()
            assert ids[-1] == tokenizer.eod and tokenizer.eod not in ids[:-1]
            segments = tokenizer.decode(ids[:-1])
            assert segments
            for segment in segments:
                _check_segment(segment, structure)
                seen.add(segment.modality)
            if prefix == "protein/3d" and len(segments) == 2:  # sequence and structure: one code per residue
                assert len(segments[0].value) == len(segments[1].value), ids[:20]
        assert seen & expected_modalities.get(prefix, seen), prefix
    assert summary["prefixes"]["cross/interleaved"] > 0


def test_a_killed_two_worker_build_resumes_to_the_one_worker_bytes(small_one_worker, tmp_path):
    """Killed mid-way, then rerun: the same bytes as an uninterrupted build, which also ran with
    another worker count (one against two)."""
    out = tmp_path / "killed"
    config_path = tmp_path / "small.yaml"
    config_path.write_text(yaml.safe_dump(_small_config(out)))
    command = [sys.executable, "-m", "launch.cli", "data", "build", "--config", str(config_path), "--quiet", "--workers", "2"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stage2 = out / "work" / "stage2"
    deadline = time.time() + 600
    while time.time() < deadline and len(list(stage2.glob("*.done.json"))) < 3:
        assert process.poll() is None, "the build ended before it could be interrupted"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    visible = [p for p in (out / "shards").rglob("*") if p.suffix in (".bin", ".idx")] if (out / "shards").exists() else []
    assert visible == []  # merge had not started: nothing half-written under a final name
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    resumed, whole = _files(out), _files(small_one_worker)
    assert resumed.keys() == whole.keys() and len(whole) > 10
    assert [k for k in whole if resumed[k] != whole[k]] == []

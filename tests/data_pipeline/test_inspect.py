"""`biomatrix data inspect` on the session's real shards: its figures are the index files' and the
manifests', its decoded documents are the stored ids with their wrappers, its plot is a PNG with
one panel per prefix, the shards folder is left as it was, and a wrong folder is one line."""

from __future__ import annotations

import contextlib
import io
import json
import struct
from pathlib import Path

import pytest
import yaml
from megatron.core.datasets.indexed_dataset import IndexedDataset

from launch.cli import main
from megatron_bio.tokenizer import BioMatrixTokenizer

# Per prefix, the wrappers one of which every document holds: its view's anchor fields
# (data_pipeline/compose.py; protein/other always carries the sequence).
ANCHOR_WRAPPERS = {
    "molecule/1d": ("<|mol_smi_start|>", "<|mol_sfi_start|>"),
    "molecule/3d": ("<|mol_3d_start|>",),
    "protein/1d": ("<|prot_aa_start|>",),
    "protein/3d": ("<|prot_3d_start|>",),
    "protein/other": ("<|prot_aa_start|>",),
}
WRAPPER_PAIRS = [("<|mol_smi_start|>", "<|mol_smi_end|>"), ("<|mol_sfi_start|>", "<|mol_sfi_end|>"),
                 ("<|mol_3d_start|>", "<|mol_3d_end|>"), ("<|prot_aa_start|>", "<|prot_aa_end|>"),
                 ("<|prot_3d_start|>", "<|prot_3d_end|>")]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def inspected(shards, tmp_path_factory):
    """One `--json` run over every prefix, with the shards folder's state before and after."""
    plot = tmp_path_factory.mktemp("inspect") / "lengths.png"
    before = _snapshot(shards)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["data", "inspect", "--shards", str(shards), "--documents", "3", "--plot", str(plot), "--json"]) == 0
    return json.loads(out.getvalue()), plot, before


def test_figures_are_the_index_files_and_the_manifests(shards, inspected):
    report, _, _ = inspected
    blend = {e["prefix"]: e["weight"] for e in yaml.safe_load((shards / "blend.yaml").read_text())["datasets"]}
    assert list(report["prefixes"]) == list(blend) and {"molecule/1d", "protein/1d"} <= set(blend)
    for prefix, figures in report["prefixes"].items():
        dataset = IndexedDataset(str(shards / prefix))
        lengths = dataset.sequence_lengths
        manifest = json.loads((shards / f"{prefix}.manifest.json").read_text())
        assert figures["documents"] == len(dataset.document_indices) - 1 == len(dataset) == manifest["documents"]
        assert figures["tokens"] == int(lengths.sum()) == manifest["tokens"]
        assert figures["max_length"] == int(lengths.max())
        assert figures["mean_length"] == pytest.approx(float(lengths.mean()), abs=0.01)
        assert figures["weight"] == blend[prefix]


def test_decoded_documents_are_the_stored_ids_with_their_wrappers(shards, inspected):
    report, _, _ = inspected
    backend = BioMatrixTokenizer.build()  # the build's vocabulary (the manifests' fingerprint matched)
    for prefix, figures in report["prefixes"].items():
        dataset = IndexedDataset(str(shards / prefix))
        examples = figures["examples"]
        assert len(examples) == min(3, figures["documents"]) and examples[0]["document"] == 0
        assert examples[-1]["document"] == figures["documents"] - 1
        for example in examples:
            ids = dataset[example["document"]].tolist()
            text = example["text"]
            # The rendered document is what a Hugging Face tokenizer reads back as the stored ids.
            assert backend.backend.encode(text, add_special_tokens=False).ids + [backend.eod] == ids, (prefix, text[:80])
            assert example["tokens"] == len(ids)
            assert any(w in text for w in ANCHOR_WRAPPERS.get(prefix, ("",))), (prefix, text[:80])
            for start, end in WRAPPER_PAIRS:
                assert text.count(start) == text.count(end), (prefix, start, text[:80])


def test_plot_is_a_png_with_a_panel_per_prefix_and_the_shards_are_untouched(shards, inspected):
    report, plot, before = inspected
    assert report["plot"] == str(plot.resolve())
    prefixes = len(report["prefixes"])
    columns = min(3, prefixes)
    assert _png_size(plot) == (400 * columns, 300 * -(-prefixes // columns))
    assert _snapshot(shards) == before


def test_text_report_ends_with_where_the_plot_went(shards, inspected, tmp_path, capsys):
    plot = tmp_path / "protein.png"
    assert main(["data", "inspect", "--shards", str(shards), "--prefix", "protein/1d", "--documents", "1",
                 "--width", "60", "--plot", str(plot)]) == 0
    lines = capsys.readouterr().out.splitlines()
    documents = inspected[0]["prefixes"]["protein/1d"]["documents"]
    assert lines[0] == f"shards: {shards.resolve()}"
    assert lines[2].split()[:2] == ["protein/1d", f"{documents:,}"] and lines[2].endswith("agrees")
    assert lines[-3] == f"protein/1d document 0 of {documents:,} ({inspected[0]['prefixes']['protein/1d']['examples'][0]['tokens']:,} tokens):"
    shown, whole = lines[-2][2:], inspected[0]["prefixes"]["protein/1d"]["examples"][0]["text"].replace("\n", "\\n")
    assert len(shown) == 58 < len(whole) and shown[35:40] == " ... "  # both ends kept: where the wrappers are
    assert whole.startswith(shown[:35]) and whole.endswith(shown[40:])
    assert lines[-1] == f"document-length histograms, one per prefix: {plot.resolve()}"
    assert _png_size(plot) == (400, 300)


@pytest.mark.parametrize("case", ["missing", "not a build", "unknown prefix"])
def test_a_wrong_folder_or_prefix_is_one_line(shards, tmp_path, capsys, case):
    folder = {"missing": tmp_path / "nowhere", "not a build": tmp_path, "unknown prefix": shards}[case]
    argv = ["data", "inspect", "--shards", str(folder), "--plot", str(tmp_path / "p.png"), "--documents", "0"]
    with pytest.raises(SystemExit) as exit_status:
        main(argv + (["--prefix", "protein/9d"] if case == "unknown prefix" else []))
    assert exit_status.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("biomatrix: error: ") and error.count("\n") == 1, error
    assert {"missing": "does not exist", "not a build": "blend.yaml", "unknown prefix": "protein/9d"}[case] in error
    assert not (tmp_path / "p.png").exists()

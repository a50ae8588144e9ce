"""`biomatrix structure molecule encode|decode|eval` on real files, run as users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import rdkit
from rdkit import Chem

from biomatrix_io.readers import packaged

BIOMATRIX = str(Path(sys.executable).with_name("biomatrix"))
EGFR_SDF = Path(rdkit.__file__).parent / "Contrib" / "PBF" / "testData" / "egfr.sdf"


def _run(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([BIOMATRIX, "structure", "molecule", *args], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    return done


def test_encode_decode_sdf(tmp_path):
    encoded = tmp_path / "egfr.jsonl"
    report = _run("encode", "--input", str(EGFR_SDF), "--limit", "12", "--out", str(encoded)).stderr
    assert "12 records: 12 encoded, 0 rejected" in report
    rows = [json.loads(line) for line in encoded.read_text().splitlines()]
    assert rows[0]["id"] == "ZINC02640583" and rows[0]["tokens"].startswith("[")
    out = tmp_path / "decoded.sdf"
    _run("decode", "--input", str(encoded), "--out", str(out))
    originals = [m for m, _ in zip(Chem.SDMolSupplier(str(EGFR_SDF), removeHs=False), range(12))]
    decoded = list(Chem.SDMolSupplier(str(out), removeHs=False))
    assert [m.GetProp("_Name") for m in decoded] == [r["id"] for r in rows]
    for original, mol in zip(originals, decoded):
        assert mol.GetNumAtoms() == Chem.AddHs(original).GetNumAtoms()
        # Same molecule: decoding a conformer gives back its graph.
        assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.MolToSmiles(Chem.RemoveHs(original))


def test_encode_qm9_csv_counts_rejections(tmp_path):
    rows = packaged.qm9_csvs()[2].read_text().splitlines()
    part = tmp_path / "qm9_part.csv"
    # Row 133857 of QM9 (line 3 of this sample): its DFT geometry is another isomer than its SMILES.
    sample = [rows[0]] + [r for r in rows[1:] if r.split(",")[1] in {"133853", "133857", "133861"}]
    part.write_text("\n".join(sample) + "\n")
    report = _run("encode", "--input", str(part), "--out", str(tmp_path / "q.jsonl"), "--set", "checkpoint=released").stderr
    reason = "geometry connectivity does not match the SMILES graph at any covalent factor"
    assert "3 records: 2 encoded, 1 rejected" in report and reason in report
    assert f"rejected {part}:line 3 (qm9:133857): {reason}" in report


def test_decode_rejects_bad_lines_with_their_place(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("[C 3][Branch1 4]\n")
    done = subprocess.run([BIOMATRIX, "structure", "molecule", "decode", "--input", str(bad), "--out", str(tmp_path / "x.sdf")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and f"{bad}:1, token 1" in done.stderr and "needs code -1" in done.stderr


def test_eval_prints_the_side_by_side_table(tmp_path):
    results = tmp_path / "RESULTS.md"
    out = _run("eval", "--set", "eval.molecules=40", "--results", str(results)).stdout
    table = results.read_text()
    for label in ("released, open loop", "released, closed loop", "ours, closed loop"):
        assert f"| {label} |" in table
    figures = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    released, ours = figures[0], figures[2]
    assert released["fallback_rate"] is not None and 0 <= released["fallback_rate"] < 0.1
    assert ours["rmsd_mean_A"] < released["rmsd_mean_A"]
    assert np.isfinite([released["raw_atom_stability"], ours["mmff_atom_stability"]]).all()

"""The `biomatrix` console command, run as users run it."""

import argparse
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

from transformers import AutoTokenizer

from launch.cli import build_parser
from launch.commands import load
from megatron_bio.tokenizer.ranked_file import read_ranked_tokens

BIOMATRIX = str(Path(sys.executable).with_name("biomatrix"))


def _run(*args, stdin=None):
    done = subprocess.run([BIOMATRIX, *args], input=stdin, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tokenizer_build_info_encode_decode(tmp_path):
    out = tmp_path / "tok"
    built = json.loads(_run("tokenizer", "build", "--out", str(out)))
    assert built["families"]["protein_3d"] == 4096 and built["families"]["molecule_3d"] > 500
    assert built["padded_vocab_size"]["tp2"] % 256 == 0
    assert len(AutoTokenizer.from_pretrained(str(out))) == built["vocab_size"]
    assert json.loads(_run("tokenizer", "info", "--dir", str(out))) == {k: v for k, v in built.items() if k != "out"}

    document = [{"modality": "text", "value": "Ethanol is "}, {"modality": "smiles", "value": "CCO"},
                {"modality": "protein_3d", "value": [1, 2, 3]}]
    ids = json.loads(_run("tokenizer", "encode", "--dir", str(out), stdin=json.dumps(document) + "\n"))
    assert json.loads(_run("tokenizer", "decode", "--dir", str(out), stdin=json.dumps(ids) + "\n")) == document


def test_config_overrides_reach_the_build(tmp_path):
    inventory = Path(__file__).parent / "data" / "molecule_3d_small.txt"
    built = json.loads(_run("tokenizer", "build", "--out", str(tmp_path / "t"), "--set", f"molecule_3d_inventory={inventory}"))
    assert built["families"]["molecule_3d"] == len(read_ranked_tokens(inventory))


def test_selfies_inventory_command_on_every_source(tmp_path):
    out = tmp_path / "selfies.txt"
    printed = _run("tokenizer", "selfies-inventory", "--out", str(out), "--limit", "300", "--workers", "2")
    header = [l for l in out.read_text().splitlines() if l.startswith("#")]
    for source in ("moses", "qm9", "ccd", "chebi"):
        line = next(l for l in header if l.startswith(f"# source {source}:"))
        records, encoded, rejected = map(int, re.search(r"(\d+) records, (\d+) encoded, (\d+) rejected", line).groups())
        assert records == 300 and encoded + rejected == records, line
    symbols = read_ranked_tokens(out)
    assert "[C]" in symbols and "[Branch1]" in symbols and f"{len(symbols)} SELFIES symbols" in printed


@dataclasses.dataclass
class _Knob:
    value: int = 0


def _parsers(parser: argparse.ArgumentParser, path: tuple = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_config_command_reads_its_options_the_same_way(tmp_path):
    """`--set` and the config file land in the same place for every command (convert's
    `--tokenizer-config` included), so `load` reads them all; pretrain's positional overrides come last."""
    with_set = {path: {a.dest for a in parser._actions} for path, parser in _parsers(build_parser())
                if "--set" in parser._option_string_actions}
    assert ("pretrain",) in with_set and ("convert", "megatron-to-hf") in with_set and ("slurm", "submit") in with_set
    assert all({"config", "set"} <= dests for dests in with_set.values()), with_set

    recipe = tmp_path / "knob.yaml"
    recipe.write_text("value: 1\n")
    parse = build_parser().parse_args
    assert load(parse(["pretrain", "--config", str(recipe)]), _Knob).value == 1
    args = parse(["pretrain", "--config", str(recipe), "--set", "value=2", "value=3"])
    assert load(args, _Knob, *args.overrides).value == 3
    args = parse(["convert", "megatron-to-hf", "--checkpoint", str(tmp_path), "--out", "o", "--tokenizer-config", str(recipe),
                  "--set", "value=4"])
    assert load(args, _Knob).value == 4

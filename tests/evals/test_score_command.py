"""`biomatrix eval score` on files as users write them: bad lines are counted with their line
numbers and reasons (lines read = scored + rejected), empty answers are scored as answers, and
mistakes are one line; `biomatrix eval metrics` lists every metric with its reference."""

import json

import pytest

from evals.metrics.registry import all_metrics
from launch import cli


def _score(capsys, *arguments: str) -> dict:
    assert cli.main(["eval", "score", *arguments]) == 0
    return json.loads(capsys.readouterr().out)


def test_bad_lines_are_counted_by_line_and_the_rest_scored(tmp_path, capsys):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join([
        json.dumps({"prediction": "a.b.c", "reference": "a.b.c"}),            # 1 correct
        "not json",                                                           # 2 rejected
        json.dumps({"reference": "x"}),                                       # 3 no prediction
        '{"prediction": NaN, "reference": "1"}',                              # 4 NaN
        json.dumps({"prediction": "", "reference": "y"}),                     # 5 empty answer: scored, wrong
        "",                                                                   # blank: not a line
        json.dumps({"prediction": "b", "references": ["a", "b"]}),            # 7 correct (any reference)
        json.dumps({"prediction": "c", "references": []}),                    # 8 empty list
        json.dumps({"prediction": ["c"], "reference": "c"}),                  # 9 a list, not a string
    ]) + "\n")
    out = _score(capsys, "--metric", "accuracy:exact", "--input", str(path))
    assert out["metric"] == "accuracy" and out["variant"] == "exact" and out["reference"] and out["comparable"]
    lines = out["lines"]
    assert (lines["read"], lines["scored"], lines["rejected"]) == (8, 3, 5)
    assert [r["where"] for r in lines["rejections"]] == ["line 2", "line 3", "line 4", "line 8", "line 9"]
    assert "invalid JSON" in lines["rejections"][0]["reason"] and "not a finite number" in lines["rejections"][2]["reason"]
    assert out["counts"]["samples"] == 3 and out["counts"]["empty"] == 1
    assert out["value"] == pytest.approx(2 / 3)


def test_a_number_prediction_is_scored_as_its_text(tmp_path, capsys):
    path = tmp_path / "esol.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in [
        {"prediction": 1.0, "reference": "2.0"}, {"prediction": "-1", "reference": "1"}, {"prediction": "n/a", "reference": "0"}]))
    out = _score(capsys, "--metric", "rmse", "--input", str(path))
    assert out["lines"]["rejected"] == 0
    assert out["value"] == pytest.approx(((1 + 4) / 2) ** 0.5)  # (1-2)^2, (-1-1)^2 over the 2 that parse


@pytest.mark.parametrize("arguments, message", [
    (["--metric", "no_such_metric"], "no metric no_such_metric; known:"),
    (["--metric", "accuracy:no_variant"], "known: accuracy:exact"),
    (["--metric", "accuracy", "--option", "notation=selfies"], "takes no option notation"),
    (["--metric", "accuracy", "--option", "notation"], "is not KEY=VALUE"),
])
def test_mistakes_are_one_line(tmp_path, capsys, arguments, message):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"prediction": "a", "reference": "a"}) + "\n")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["eval", "score", "--input", str(path), *arguments])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error


def test_the_listing_names_every_metric_its_reference_and_default(capsys):
    assert cli.main(["eval", "metrics", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(all_metrics()) and all(row["reference"] for row in rows)
    keys = [(row["metric"], row["variant"]) for row in rows]
    assert len(keys) == len(set(keys))
    for name in {row["metric"] for row in rows}:  # exactly one default per metric
        assert sum(row["default"] for row in rows if row["metric"] == name) == 1, name


def test_a_distribution_metric_takes_typed_options_and_a_training_set(tmp_path, capsys):
    samples, train = tmp_path / "samples.jsonl", tmp_path / "train.txt"
    samples.write_text("\n".join(json.dumps({"prediction": s}) for s in ["CCO", "CCO", "c1ccccc1", "C1CC"]) + "\n")
    train.write_text("CCO\n")
    out = _score(capsys, "--metric", "generation_validity:guacamol", "--input", str(samples), "--option", "asked=8")
    assert out["value"] == pytest.approx(3 / 8)  # 3 valid of the 8 asked for (GuacaMol's denominator)
    out = _score(capsys, "--metric", "generation_novelty:moses", "--input", str(samples), "--train", str(train))
    assert out["value"] == pytest.approx(1 / 2)  # unique valid {CCO, c1ccccc1}, one not in train

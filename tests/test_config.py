from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from biomatrix_io.config import apply_overrides, from_dict, load_config


@dataclass
class Inner:
    lr: float = 1e-3
    name: Optional[str] = None


@dataclass
class Outer:
    steps: int = 10
    inner: Inner = field(default_factory=Inner)


def test_yaml_then_dotted_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\ninner:\n  lr: 0.5\n")
    config = load_config(Outer, path, ["inner.lr=2e-4", "inner.name=null", "steps=7"])
    assert config == Outer(steps=7, inner=Inner(lr=2e-4, name=None))


def test_unknown_keys_are_errors():
    with pytest.raises(ValueError, match=r"unknown keys \['stpes'\]"):
        from_dict(Outer, {"stpes": 3})
    with pytest.raises(ValueError, match="inner: unknown keys"):
        from_dict(Outer, {"inner": {"learning_rate": 3}})


def test_malformed_override():
    with pytest.raises(ValueError, match="dotted.key=value"):
        apply_overrides({}, ["steps"])
    with pytest.raises(ValueError, match="override 0 is not of the form"):  # a YAML list item read as a number
        load_config(Outer, None, ["steps=1", 0])


def test_numbers_are_coerced_and_checked():
    assert from_dict(Inner, {"lr": "2e-4"}).lr == 2e-4
    with pytest.raises(ValueError, match=r"Inner.lr: 'fast' is not a number"):
        from_dict(Inner, {"lr": "fast"}, "Inner")


@dataclass
class Choice:
    style: Literal["cosine", "linear"] = "cosine"
    fp8: Optional[Literal["hybrid", "e4m3"]] = None


def test_enumerated_fields_list_the_allowed_values():
    assert from_dict(Choice, {"style": "linear", "fp8": "e4m3"}) == Choice("linear", "e4m3")
    assert from_dict(Choice, {"fp8": None}).fp8 is None
    with pytest.raises(ValueError, match=r"Choice.style: 'cosin' is not one of 'cosine', 'linear'"):
        from_dict(Choice, {"style": "cosin"}, "Choice")
    with pytest.raises(ValueError, match=r"fp8: 'e5m2' is not one of 'hybrid', 'e4m3'"):
        from_dict(Choice, {"fp8": "e5m2"})

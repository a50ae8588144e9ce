"""Configs are data: YAML files read into dataclasses, overridable with dotted `key=value` pairs.

Unknown keys are errors (a typo must not silently fall back to a default). Override values are
parsed as YAML scalars (`--set x=null` gives None), then numbers are coerced to the field's type:
YAML 1.1 reads `2e-4` as a string, and a learning rate must not arrive as one. An enumerated field
is typed `Literal[...]`, and a value outside it is refused with the allowed values listed.

A library module: every job and the CLI read their configs through it.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A user's mistake in a config, an override or a path it names: the CLI prints the message as
    one line (exit status 2, no traceback); a programming error keeps its traceback."""


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form dotted.key=value")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[leaf] = yaml.safe_load(value)
    return data


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, value in data.items():
        values[name] = _nested(hints[name], value, f"{where}.{name}")
    return cls(**values)


def _nested(hint: Any, value: Any, where: str) -> Any:
    """Dataclasses, and dicts/lists of them, are read recursively; leaves are coerced."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, where)
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: _nested(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is list and len(args) == 1 and isinstance(value, list):
        return [_nested(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    return _coerce(hint, value, where)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    args = typing.get_args(hint)
    if value is None or hint is Any:
        return value
    if typing.get_origin(hint) is typing.Union and type(None) in args:
        (hint,) = [a for a in args if a is not type(None)] or (Any,)
    if typing.get_origin(hint) is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a number") from None
    if hint is int and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not an integer") from None
    return value


def load_config(cls: type[T], path: Optional[str | Path] = None, overrides: Iterable[str] = ()) -> T:
    if path and not Path(path).is_file():
        raise ConfigError(f"{path}: no such config file")
    data = yaml.safe_load(Path(path).read_text()) if path else {}
    return from_dict(cls, apply_overrides(data or {}, overrides), str(path or cls.__name__))

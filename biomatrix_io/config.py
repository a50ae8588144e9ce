"""Configs are data: YAML files read into dataclasses, overridable with dotted `key=value` pairs.

Unknown keys are errors (a typo must not silently fall back to a default). Override values are
parsed as YAML scalars (`--set x=null` gives None), then numbers are coerced to the field's type:
YAML 1.1 reads `2e-4` as a string, and a learning rate must not arrive as one. An enumerated field
is typed `Literal[...]`, and a value outside it is refused with the allowed values listed.

Every refusal is a `ConfigError` that names the keys at fault; `load_config` adds where each of
their values came from (the file, a `--set`, or the default), because a user who mistyped an
override must not be sent to look for it in the YAML file.

A library module: every job and the CLI read their configs through it.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, Sequence, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A user's mistake in a config, an override, a path it names or a setting this machine cannot
    run: the CLI prints the message as one line (exit status 2, no traceback); a programming error
    keeps its traceback. `keys` are the dotted keys at fault, relative to the dataclass that raised
    it (a `__post_init__` check names its own fields); `from_dict` makes them absolute."""

    def __init__(self, message: str, keys: Sequence[str] = ()):
        super().__init__(message)
        self.keys = tuple(keys)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    for item in overrides:
        key, sep, value = item.partition("=") if isinstance(item, str) else ("", "", "")
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


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """`cls` from a nested mapping; errors name their keys under `where` (a dotted prefix)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}", [where])
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown keys {unknown}; known: {sorted(fields)}",
                          [_join(where, k) for k in unknown])
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, value in data.items():
        values[name] = _nested(hints[name], value, _join(where, name))
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(str(error), [_join(where, k) for k in error.keys]) from None


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
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}", [where])
        return value
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a number", [where]) from None
    if hint is int and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not an integer", [where]) from None
    return value


def _leaves(data: Any, where: str = "") -> Iterable[str]:
    if isinstance(data, dict) and data:
        for key, value in data.items():
            yield from _leaves(value, _join(where, str(key)))
    else:
        yield where


def _origins(path: Optional[str | Path], data: dict, overrides: Sequence[str]) -> dict[str, str]:
    """Dotted key -> where its value was set: the file, or the `--set` that set it last."""
    origins = {key: str(path) for key in _leaves(data)} if path else {}
    for item in overrides:
        key = str(item).partition("=")[0]
        for known in [k for k in origins if k.startswith(key + ".")]:
            del origins[known]  # a whole section replaced by one override
        origins[key] = f"--set {item}"
    return origins


def _origin(key: str, origins: dict[str, str]) -> str:
    """The origin of `key`, else of its nearest section set as a whole, else of the values set
    inside it (a section that exists only through them), else the default."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in origins:
            return origins[".".join(parts[:end])]
    inside = sorted({origin for known, origin in origins.items() if known.startswith(key + ".")})
    return "; ".join(inside) if inside else "default"


def load_config(cls: type[T], path: Optional[str | Path] = None, overrides: Iterable[str] = ()) -> T:
    if path and not Path(path).is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(Path(path).read_text()) if path else {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    data = data or {}
    overrides = list(overrides)
    origins = _origins(path, data, overrides)
    try:
        return from_dict(cls, apply_overrides(data, overrides))
    except ConfigError as error:
        if not error.keys:
            raise
        sources = "; ".join(f"{key} from {_origin(key, origins)}" for key in dict.fromkeys(error.keys))
        raise ConfigError(f"{error} [{sources}]") from None

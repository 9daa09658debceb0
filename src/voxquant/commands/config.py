"""Config files for the CLI: a TOML table whose keys are the fields of a config dataclass
(:class:`voxquant.pipeline.RunConfig` for ``voxquant run --config run.toml``).

One source of defaults: the dataclass. Keys are checked (unknown key -> one :class:`~voxquant.errors.ConfigError`
with a close match from :mod:`difflib`), values are type-checked against the field's annotation and converted
(lists -> tuples, strings -> :class:`~pathlib.Path`).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from pathlib import Path

from voxquant.errors import ConfigError


def field_defaults(cls) -> dict:
    """``{field name: default}`` of a dataclass (``default_factory`` called)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def format_default(value) -> str:
    """A dataclass default as the command line writes it: tuples comma-separated, ``None`` as ``none``."""
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(format_default(v) for v in value) or "none"
    return str(value)


def _convert(cls, name: str, value, path: Path):
    """``value`` checked against field ``name`` of ``cls`` (annotation string or the default's type)."""
    f = {x.name: x for x in dataclasses.fields(cls)}[name]
    ann = str(f.type).replace(" ", "")
    alts = set(ann.split("|"))
    if value is None:
        raise ConfigError(f"{path}: key '{name}' has no value (TOML has no null; leave the key out for the default)")

    def bad(want: str):
        return ConfigError(f"{path}: key '{name}' must be {want}, got {type(value).__name__} {value!r}")

    if "object" in alts or "Any" in alts:
        return value
    if "Path" in alts:
        if not isinstance(value, str):
            raise bad("a path (string)")
        return Path(value)
    if "bool" in alts:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if "int" in alts:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if "float" in alts:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if "str" in alts:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if "tuple" in alts:
        if isinstance(value, str):
            return tuple(x.strip() for x in value.split(",") if x.strip())
        if not isinstance(value, list):
            raise bad("a list")
        default = field_defaults(cls).get(name) or ()
        kinds = {type(v) for v in default}
        if kinds and kinds <= {int, float} and name not in ("threads",):
            kinds = {float}  # a list of numbers (snrs = [20, 2.5]); ranges are RunConfig.validate's
        for v in value:
            if isinstance(v, bool) or (kinds and not any(isinstance(v, k) for k in kinds)
                                       and not (float in kinds and isinstance(v, int))):
                raise bad(f"a list of {' or '.join(sorted(k.__name__ for k in kinds))}")
        return tuple(value)
    if "dict" in alts:
        if not isinstance(value, dict):
            raise bad("a table")
        return value
    return value


def config_from_toml(cls, path: str | Path) -> dict:
    """The keyword arguments of ``cls`` given by a TOML file (only the keys it sets).

    The file holds the fields at top level, or under one table named ``[run]``/``[benchmark]``.

    Raises:
        ConfigError: file missing or not valid TOML; an unknown key (with the closest field name); a value of the
            wrong type (naming the key).
    """
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    names = [f.name for f in dataclasses.fields(cls)]
    if len(table) == 1 and next(iter(table)) in ("run", "benchmark") and isinstance(next(iter(table.values())), dict):
        table = next(iter(table.values()))
    out = {}
    for key, value in table.items():
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(names)})"
            raise ConfigError(f"{path}: unknown key '{key}'{hint}")
        out[key] = _convert(cls, key, value, path)
    return out


def parse_numbers(text: str, option: str, kind=float) -> tuple:
    """A comma list of numbers from the command line (``"20,10,5"`` -> ``(20.0, 10.0, 5.0)``).

    Args:
        text: the option's value; blanks and empty entries are ignored.
        option: the option (``"--snrs"``), named in the message.
        kind: ``float`` or ``int``.

    Raises:
        ConfigError: an entry that is not a number (``"--snrs: invalid number 'abc'"``); ranges are checked by the
            config's ``validate()``.
    """
    out = []
    for x in (t.strip() for t in str(text).split(",")):
        if not x:
            continue
        try:
            out.append(kind(x))
        except ValueError:
            raise ConfigError(f"{option}: invalid {'int' if kind is int else 'float'} value {x!r}") from None
    return tuple(out)

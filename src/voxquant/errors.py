"""Errors that voxquant reports to the user as one clear line.

Every error raised for bad input derives from :class:`VoxquantError`; the CLI prints
``error: <message>`` and exits with status 2 (no traceback unless ``--debug``).
Messages always name the offending file (when there is one) and the problem.
"""

from __future__ import annotations

from pathlib import Path


class VoxquantError(Exception):
    """Base class of user-facing errors.

    Args:
        message: what is wrong, in one sentence.
        path: the file or folder concerned, if any; it is prefixed to the message.
        hint: what to do about it, appended to the message.
    """

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None):
        self.path = Path(path) if path is not None else None
        self.problem = message
        self.hint = hint
        text = f"{self.path}: {message}" if self.path is not None else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class AudioError(VoxquantError):
    """Audio that cannot be used: corrupt, empty, not audio, NaN/Inf samples, wrong rate or channels."""


class DataError(VoxquantError):
    """A dataset that is missing, incomplete or malformed (missing label folder, bad manifest, bad checksum)."""


class ModelError(VoxquantError):
    """A model file that is not what it claims (not ONNX, wrong input shape, label count mismatch, ...)."""


class ConfigError(VoxquantError):
    """A bad option or specification (unknown recipe/backend/target, invalid front-end parameters, ...)."""


class LabelMismatchError(ConfigError, DataError):
    """A model's labels and a data set's labels do not fit (data labels the model does not know).

    Both a :class:`ConfigError` (the model/data pairing is wrong) and a :class:`DataError` (the data holds labels
    it should not), so either ``except`` catches it.

    Attributes:
        missing: model labels with no clip in the data (sorted).
        extra: data labels the model does not have (sorted).
    """

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None,
                 missing: tuple = (), extra: tuple = ()):
        self.missing = tuple(missing)
        self.extra = tuple(extra)
        super().__init__(message, path, hint)


class MissingExtraError(VoxquantError):
    """An optional toolchain is not installed.

    Args:
        package: the import name that failed (e.g. ``"tensorflow"``).
        extra: the pip extra that provides it (e.g. ``"tf"``), so the hint reads
            ``pip install 'voxquant[tf]'``.
        what: what needed it, e.g. ``"TFLite conversion"``.
    """

    def __init__(self, package: str, extra: str, what: str):
        self.package = package
        self.extra = extra
        super().__init__(
            f"{what} needs the optional package '{package}', which is not installed",
            hint=f"install it with: pip install -c constraints.txt 'voxquant[{extra}]'",
        )


def require(module: str, extra: str, what: str):
    """Import an optional dependency lazily or raise :class:`MissingExtraError`.

    Args:
        module: dotted import name, e.g. ``"ai_edge_litert.interpreter"``.
        extra: pip extra that installs it.
        what: the feature that needs it (used in the message).

    Returns:
        The imported module.

    Raises:
        MissingExtraError: when the import fails.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised where the extra is absent
        raise MissingExtraError(module.split(".")[0], extra, what) from exc


def check_int(value, option: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if it is a whole number (not a bool) within ``[minimum, maximum]``.

    Args:
        value: the value to check (``int`` or a numpy integer; ``bool`` and ``float`` are refused).
        option: the option or config key that gave it (``"--threads"``), named in the message.
        minimum, maximum: inclusive bounds (``None`` = unbounded).

    Raises:
        ConfigError: ``"<option>: must be an integer >= <minimum>, got <value>"``.
    """
    import numbers

    want = "an integer" + (f" >= {minimum}" if minimum is not None else "") + (
        f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{option}: must be {want}, got {type(value).__name__} {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(f"{option}: must be {want}, got {value!r}")
    return int(value)


def check_number(value, option: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a ``float`` if it is a finite real number (not a bool) within ``[minimum, maximum]``.

    Raises:
        ConfigError: ``"<option>: must be a finite number ..., got <value>"`` (NaN, +-inf, out of range, a string).
    """
    import math
    import numbers

    rng = (f" >= {minimum:g}" if minimum is not None else "") + (f" and <= {maximum:g}" if maximum is not None else "")
    if minimum is not None and maximum is not None:
        rng = f" in [{minimum:g}, {maximum:g}]"
    want = "a finite number" + rng
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{option}: must be {want}, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{option}: must be {want}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(f"{option}: must be {want}, got {value!r}")
    return float(value)

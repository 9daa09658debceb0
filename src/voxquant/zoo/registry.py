"""The model zoo: name -> spec (``src/voxquant/zoo/specs/*.toml``) + pinned source URLs + sha256, and resolution.

Every zoo spec lists its files (``[[files]]``: path in the ``shared/models`` layout, bytes, sha256, and a
``raw.githubusercontent.com`` URL pinned to the publisher's commit). :func:`resolve` finds them in this order:

1. ``VOXQUANT_MODELS`` (:func:`voxquant.paths.models_root`; the ``shared/models`` layout), checksums verified;
2. the download cache ``<cache_root()>/models`` (same layout), checksums verified;
3. a download from the pinned URL into the cache (streamed to ``*.part``, size and sha256 verified, then
   ``os.replace``), unless ``download=False``.

Third-party model files are never part of the repository.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from voxquant.errors import ConfigError, DataError, ModelError
from voxquant.paths import cache_root, models_root
from voxquant.zoo.models import sha256_file
from voxquant.zoo.spec import ModelSpec, parse_spec

_SPEC_DIR = "specs"


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, ModelSpec]:
    import tomllib

    out: dict[str, ModelSpec] = {}
    for entry in sorted(resources.files("voxquant.zoo").joinpath(_SPEC_DIR).iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        src = Path(str(entry))
        spec = parse_spec(data, root=models_root(), source=src)
        if spec.name in out:
            raise ConfigError(f"duplicate zoo model name '{spec.name}'", src)
        out[spec.name] = spec
    return out


def zoo_names() -> list[str]:
    """All zoo model names, sorted."""
    return sorted(_registry())


def zoo_families() -> dict[str, list[str]]:
    """Family name -> member model names (e.g. ``mlperf-tiny-kws-dscnn`` -> its int8/hybrid/fp32 files)."""
    fams: dict[str, list[str]] = {}
    for name, spec in _registry().items():
        fams.setdefault(spec.family or name, []).append(name)
    return {k: sorted(v) for k, v in sorted(fams.items())}


def expand(name: str) -> list[str]:
    """Model names for ``name``: itself if it is a model, its members if it is a family, every model for ``"all"``.

    Raises:
        ConfigError: unknown name (closest match suggested).
    """
    reg = _registry()
    if name == "all":
        return zoo_names()
    if name in reg:
        return [name]
    fams = zoo_families()
    if name in fams:
        return fams[name]
    import difflib

    close = difflib.get_close_matches(name, list(reg) + list(fams), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "run `voxquant zoo list`"
    raise ConfigError(f"unknown zoo model '{name}'", hint=hint)


def zoo_spec(name: str, resolve_files: bool = True, download: bool = True) -> ModelSpec:
    """The spec of zoo model ``name``, with ``root`` pointing at where its files are.

    Args:
        name: a zoo model name (:func:`zoo_names`).
        resolve_files: find (and if needed download) the files; with ``False`` ``root`` is ``models_root()``.
        download: allow step 3 of the resolution order.

    Raises:
        ConfigError: unknown name. ModelError: files unavailable or corrupt (see :func:`resolve`).
    """
    if name not in _registry():
        expand(name)  # raises with a suggestion
        raise ConfigError(f"'{name}' is a family, not a single zoo model: use one of {expand(name)}")
    spec = _registry()[name]
    if not resolve_files:
        return spec.with_root(models_root())
    return spec.with_root(resolve(spec, download=download))


def _verified(path: Path, sha256: str | None) -> bool:
    return path.is_file() and (sha256 is None or sha256_file(path) == sha256.lower())


def resolve(spec: ModelSpec, download: bool = True, timeout: float = 60.0, progress: bool = False) -> Path:
    """Return the root folder holding all of ``spec.files`` with correct checksums (see the module doc).

    Raises:
        ModelError: a file in ``VOXQUANT_MODELS`` has the wrong checksum (names it); a file is missing everywhere
            and ``download`` is false or the download fails (no network, HTTP error, size/sha256 mismatch; the
            message names the file and URL and says what to set).
    """
    roots = [models_root(), cache_root() / "models"]
    for root in roots:
        present = [f for f in spec.files if (root / f.path).is_file()]
        if present and len(present) == len(spec.files):
            for f in spec.files:
                if not _verified(root / f.path, f.sha256):
                    raise ModelError(f"checksum mismatch: sha256 {sha256_file(root / f.path)}, expected {f.sha256}",
                                     root / f.path, hint="the file is corrupt or another version; remove it or fix VOXQUANT_MODELS")
            return root
    dest_root = cache_root() / "models"
    hint = ("set VOXQUANT_MODELS to a folder with the shared/models layout (e.g. VOXQUANT_MODELS=../shared/models), "
            "or connect to the network")
    for f in spec.files:
        dest = dest_root / f.path
        if _verified(dest, f.sha256):
            continue
        if not download:
            raise ModelError(f"zoo model '{spec.name}' file not found (looked in {models_root()} and {dest_root})",
                             f.path, hint=hint)
        if not f.url or not f.sha256 or not f.bytes:
            raise ModelError(f"zoo model '{spec.name}' has no pinned URL/sha256/size for this file", f.path, hint=hint)
        from voxquant.data.fetch import download as _download

        try:
            _download(f.url, dest, size=int(f.bytes), sha256=f.sha256, progress=progress, timeout=timeout, hint=hint)
        except DataError as exc:
            raise ModelError(exc.problem, exc.path, hint=exc.hint) from None
    return dest_root


__all__ = ["expand", "resolve", "zoo_families", "zoo_names", "zoo_spec"]

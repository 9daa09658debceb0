"""The dedicated virtual environment of RKNN Toolkit2 (it cannot share voxquant's).

RKNN Toolkit2 2.5.0 (Rockchip, ``rknn-toolkit2`` on PyPI, ``doc/requirements_cp311-2.5.0.txt`` in
airockchip/rknn-toolkit2) pins ``numpy<=1.26.4``, ``onnx<=1.18``, ``protobuf<=4.25.4``, ``torch<=2.4`` and
imports ``pkg_resources`` (removed from setuptools 81), while voxquant runs numpy 2, onnx >= 1.19 and torch 2.13.
So voxquant builds a separate venv and talks to a worker process in it (:mod:`.client`).

Location: ``VOXQUANT_RKNN_VENV`` if set, else ``<cache_root()>/rknn-venv``.

Install recipe (:data:`STEPS`, in order; each step is one ``pip install``):

1. ``setuptools<81`` and ``wheel`` (``pkg_resources`` is imported by rknn at import time);
2. the pinned dependencies (numpy 1.26.4, onnx 1.18.0, onnxruntime 1.22.x, protobuf 4.25.4,
   opencv-python-headless, fast-histogram, psutil, ruamel.yaml, scipy, tqdm);
3. ``rknn-toolkit2==2.5.0 --no-deps`` (its declared ``torch<=2.4`` pin would pull a multi-GB CUDA build);
4. ``torch==2.13.0`` (the local CPU wheel, found through pip's configured ``find-links``) with ``--no-deps``
   plus its pure-Python dependencies (filelock, typing-extensions, sympy, networkx, jinja2, fsspec).
   rknn's ONNX path does not need torch at run time beyond import; :func:`verify` checks ``from rknn.api import
   RKNN`` in the venv, and the result is written to ``<venv>/voxquant-rknn.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from voxquant.errors import VoxquantError

RKNN_VERSION = "2.5.0"

#: pip install steps (arguments after ``pip install``), in order.
STEPS: list[list[str]] = [
    ["--upgrade", "pip", "setuptools<81", "wheel"],
    [
        "numpy==1.26.4",
        "onnx==1.18.0",
        "onnxruntime>=1.17,<=1.22.1",
        "protobuf==4.25.4",
        "opencv-python-headless<4.13",
        "fast-histogram>=0.11",
        "psutil>=5.9.0",
        "ruamel.yaml>=0.17.21",
        "scipy>=1.9.3,<1.15",
        "tqdm>=4.64.1",
    ],
    [f"rknn-toolkit2=={RKNN_VERSION}", "--no-deps"],
    ["torch==2.13.0", "--no-deps"],
    ["filelock", "typing-extensions>=4.10", "sympy>=1.13.3", "networkx>=2.5.1", "jinja2", "fsspec>=0.8.5"],
]

MARKER = "voxquant-rknn.json"


class RknnSetupError(VoxquantError):
    """Building the RKNN venv failed (the message names the step and pip's last lines)."""


def venv_path() -> Path:
    """The RKNN venv folder: ``VOXQUANT_RKNN_VENV`` or ``<cache_root()>/rknn-venv`` (may not exist)."""
    env = os.environ.get("VOXQUANT_RKNN_VENV")
    if env:
        return Path(env).expanduser()
    from voxquant.paths import cache_root

    return cache_root() / "rknn-venv"


def venv_python(path: Path | None = None) -> Path:
    """The interpreter inside the venv (``bin/python``)."""
    return Path(path or venv_path()) / "bin" / "python"


def venv_ready(path: Path | None = None) -> tuple[bool, str]:
    """``(True, "")`` when the venv exists and was verified by :func:`setup_venv`, else ``(False, reason)``."""
    path = Path(path or venv_path())
    py = venv_python(path)
    if not py.exists():
        return False, f"RKNN venv not found at {path} (create it with: voxquant backends setup rknn, or scripts/setup-rknn-venv.sh)"
    marker = path / MARKER
    if not marker.exists():
        return False, f"RKNN venv at {path} is incomplete (re-run: voxquant backends setup rknn)"
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False, f"RKNN venv at {path}: unreadable {MARKER}"
    if not info.get("ok"):
        return False, f"RKNN venv at {path} failed verification: {info.get('error', '?')}"
    return True, ""


def verify(path: Path | None = None, timeout: float = 300) -> dict:
    """Import rknn in the venv; returns ``{"ok", "rknn", "numpy", "onnx", "torch", "error"}``."""
    py = venv_python(path)
    code = (
        "import json,sys\n"
        "out={}\n"
        "import numpy, onnx; out['numpy']=numpy.__version__; out['onnx']=onnx.__version__\n"
        "try:\n import torch; out['torch']=torch.__version__\n"
        "except Exception as e: out['torch']='import failed: %s'%e\n"
        "from rknn.api import RKNN\n"
        "from importlib import metadata\n"
        "out['rknn']=metadata.version('rknn-toolkit2')\n"
        "r=RKNN(verbose=False); r.release()\n"
        "print('VOXQUANT-JSON'+json.dumps(out))\n"
    )
    p = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("VOXQUANT-JSON"):
            d = json.loads(line[len("VOXQUANT-JSON"):])
            d["ok"] = True
            return d
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"ok": False, "error": " | ".join(tail) or f"exit {p.returncode}"}


def setup_venv(path: Path | None = None, python: str | None = None, force: bool = False, log=print) -> dict:
    """Create (or re-create with ``force``) the RKNN venv and verify it.

    Args:
        path: venv folder (default :func:`venv_path`).
        python: interpreter used for ``python -m venv`` (default: this one's base interpreter).
        force: delete an existing venv first.
        log: callable receiving progress lines.

    Returns:
        The verification dict plus ``seconds`` (wall time of the whole build) and ``path``.

    Raises:
        RknnSetupError: a pip step failed (message carries the step and pip's last lines).
    """
    path = Path(path or venv_path())
    t0 = time.perf_counter()
    if force and path.exists():
        shutil.rmtree(path)
    py = venv_python(path)
    if not py.exists():
        base = python or getattr(sys, "_base_executable", None) or sys.executable
        log(f"creating venv {path} with {base}")
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base, "-m", "venv", str(path)], check=True)
    env = dict(os.environ)
    env.pop("PIP_CONSTRAINT", None)  # voxquant's constraints do not apply here
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for i, step in enumerate(STEPS, 1):
        log(f"[{i}/{len(STEPS)}] pip install {' '.join(step)}")
        p = subprocess.run([str(py), "-m", "pip", "install", "--quiet", *step], capture_output=True, text=True, env=env)
        if p.returncode != 0:
            tail = " | ".join((p.stderr or p.stdout).strip().splitlines()[-4:])
            raise RknnSetupError(f"RKNN venv step {i} (pip install {' '.join(step)}) failed: {tail}", path=path)
    info = verify(path)
    info["seconds"] = round(time.perf_counter() - t0, 1)
    info["path"] = str(path)
    (path / MARKER).write_text(json.dumps(info, indent=1))
    log(f"RKNN venv {'ready' if info['ok'] else 'FAILED'} in {info['seconds']} s: {info}")
    return info


def main(argv=None) -> int:
    """``python -m voxquant.backends.rknn.venv [--force] [--path P]``: build the venv; exit 1 if it fails."""
    import argparse

    ap = argparse.ArgumentParser(description="Create the RKNN Toolkit2 venv used by voxquant's rknn backend.")
    ap.add_argument("--path", type=Path, default=None, help="venv folder (default: $VOXQUANT_RKNN_VENV or <cache>/rknn-venv)")
    ap.add_argument("--force", action="store_true", help="delete and rebuild an existing venv")
    args = ap.parse_args(argv)
    ok, _ = venv_ready(args.path)
    if ok and not args.force:
        print(f"RKNN venv already ready at {args.path or venv_path()}")
        return 0
    try:
        info = setup_venv(args.path, force=args.force)
    except RknnSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if info.get("ok") else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

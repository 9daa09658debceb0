"""Send toolchain chatter (litert-torch's per-pass log lines, TensorFlow/absl/MLIR logs, TFLite delegate notices)
to a log file in the run folder instead of the terminal.

* :func:`toolchain_output` redirects, for the duration of a conversion: the Python loggers of the toolchains
  (:data:`TOOLCHAIN_LOGGERS`) and the root logger (litert-torch and absl log through it), the rich consoles of
  toolchains that print progress on stdout (:data:`TOOLCHAIN_CONSOLES`, if imported), ``sys.stderr``, and
  file descriptor 2 (C++ code in TensorFlow, MLIR and the TFLite interpreter writes there directly). Output is
  appended to ``<folder>/toolchain.log`` with a header line per redirected block.
* :func:`run_log_folder` names the run folder for every :func:`toolchain_output` inside it, so the backends'
  conversions log to ``<run out>/toolchain.log`` whatever sub-folder they build in.

Exceptions raised inside still propagate (the traceback is printed after the redirection ends); the terminal
keeps stdout (progress bars, tables). Nested redirections write to the outer file.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TOOLCHAIN_CONSOLES", "TOOLCHAIN_LOG", "TOOLCHAIN_LOGGERS", "redirect_console", "run_log_folder",
           "toolchain_output"]

#: File name of the toolchain log inside the run folder.
TOOLCHAIN_LOG = "toolchain.log"
#: Modules whose module-level rich ``console`` prints toolchain progress on stdout (litert-torch's per-pass
#: "[START] / [ DONE]" lines); while redirected, their console writes to the log file instead.
TOOLCHAIN_CONSOLES = ("litert_torch.progress",)
#: Python loggers of the toolchains whose records go to the log file while a conversion runs.
TOOLCHAIN_LOGGERS = ("litert_torch", "ai_edge_litert", "ai_edge_quantizer", "tensorflow", "absl", "tf2onnx",
                     "onnx2torch", "torch._dynamo", "torch._export", "torch.export", "torchao", "jax")  # fmt: skip

_RUN_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("voxquant_run_log_dir", default=None)
_LOCK = threading.RLock()
_ACTIVE: list[Path] = []  # the file currently receiving output (process-wide: fd 2 is process-wide)
_STATE: dict = {}  # while active: "fh" (the open log) and "consoles" ([(console, previous _file)])


def redirect_console(console) -> None:
    """While a :func:`toolchain_output` block is active, send a rich ``Console`` (a toolchain's own, imported
    inside the block) to the log file too; restored when the block ends. Does nothing outside a block."""
    if _ACTIVE and console is not None and hasattr(console, "file"):
        _STATE["consoles"].append((console, console.__dict__.get("_file")))
        console.file = _STATE["fh"]


@contextlib.contextmanager
def run_log_folder(folder: str | Path) -> Iterator[Path]:
    """Within this block, :func:`toolchain_output` writes to ``<folder>/toolchain.log`` (no redirection by itself).

    Yields:
        The log file path.
    """
    token = _RUN_DIR.set(Path(folder))
    try:
        yield Path(folder) / TOOLCHAIN_LOG
    finally:
        _RUN_DIR.reset(token)


@contextlib.contextmanager
def toolchain_output(fallback_dir: str | Path, what: str = "toolchain") -> Iterator[Path]:
    """Redirect toolchain output to ``toolchain.log`` for the duration of the block.

    Args:
        fallback_dir: folder of the log when no :func:`run_log_folder` is active.
        what: label written in the log's header line for this block (e.g. ``"litert fp32 model.onnx"``).

    Yields:
        The log file path (``<run folder or fallback_dir>/toolchain.log``).

    Raises:
        OSError: the log file cannot be opened (nothing is redirected then).
    """
    with _LOCK:
        if _ACTIVE:  # nested: the outer block already redirects
            yield _ACTIVE[-1]
            return
        path = (_RUN_DIR.get() or Path(fallback_dir)) / TOOLCHAIN_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in finally
        fh.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {what} ====\n")
        fh.flush()
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        saved = []
        for lg in [logging.getLogger()] + [logging.getLogger(n) for n in TOOLCHAIN_LOGGERS]:
            saved.append((lg, lg.handlers[:], lg.propagate))
            lg.handlers = [handler]
            lg.propagate = False
        fd_saved = None
        try:
            sys.stderr.flush()
            fd_saved = os.dup(2)
            os.dup2(fh.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreter): Python-level only
            fd_saved = None
        _ACTIVE.append(path)
        _STATE.update(fh=fh, consoles=[])
        for mod in TOOLCHAIN_CONSOLES:
            redirect_console(getattr(sys.modules.get(mod), "console", None))
        try:
            with contextlib.redirect_stderr(fh):
                yield path
        finally:
            _ACTIVE.pop()
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            fh.flush()
            if fd_saved is not None:
                os.dup2(fd_saved, 2)
                os.close(fd_saved)
            for con, old in reversed(_STATE.pop("consoles", [])):
                con.file = old
            _STATE.pop("fh", None)
            for lg, handlers, propagate in saved:
                lg.handlers = handlers
                lg.propagate = propagate
            fh.close()

"""Parent side of the RKNN worker protocol (see :mod:`.worker`): start, send JSON-lines requests, read answers.

The worker runs in the RKNN venv (:mod:`.venv`); its stderr (RKNN's own messages, including the verbose build
log) goes to ``log_path`` so the parent never blocks on a full pipe.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

from voxquant.backends.rknn.venv import venv_python, venv_ready
from voxquant.errors import MissingExtraError, VoxquantError

WORKER = Path(__file__).with_name("worker.py")


class RknnWorkerError(VoxquantError):
    """The RKNN worker answered with an error (message: the worker's error and the log's last lines)."""


class RknnWorker:
    """A worker process inside the RKNN venv.

    Args:
        log_path: file receiving the worker's stderr (RKNN messages). Default: a file in the current folder.
        venv: RKNN venv folder (default :func:`voxquant.backends.rknn.venv.venv_path`).
        timeout: seconds to wait for any one answer.

    Raises:
        MissingExtraError: the venv does not exist / was not verified (message says how to create it).

    Use as a context manager; :meth:`call` sends one command and returns its ``result`` dict.
    """

    def __init__(self, log_path: str | Path = "rknn-worker.log", venv: str | Path | None = None, timeout: float = 900):
        ok, why = venv_ready(Path(venv) if venv else None)
        if not ok:
            raise MissingExtraError("rknn-toolkit2", "rknn", f"The RKNN backend ({why})")
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [str(venv_python(Path(venv) if venv else None)), str(WORKER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True, bufsize=1,
        )
        self.timeout = timeout
        self._id = 0

    def log_tail(self, n: int = 30) -> str:
        """Last ``n`` lines of the worker log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def call(self, cmd: str, **args) -> dict:
        """Send ``cmd`` with ``args``; return the result dict.

        Raises:
            RknnWorkerError: the worker reported an error, died, or did not answer within ``timeout``.
        """
        if self.proc.poll() is not None:
            raise RknnWorkerError(f"RKNN worker exited ({self.proc.returncode}): {self.log_tail(5)}")
        self._id += 1
        req = json.dumps({"id": self._id, "cmd": cmd, "args": args})
        self.proc.stdin.write(req + "\n")
        self.proc.stdin.flush()
        box: dict = {}

        def read():
            box["line"] = self.proc.stdout.readline()

        th = threading.Thread(target=read, daemon=True)
        th.start()
        th.join(self.timeout)
        if th.is_alive():
            self.close(kill=True)
            raise RknnWorkerError(f"RKNN worker did not answer '{cmd}' within {self.timeout:.0f} s")
        line = box.get("line", "")
        if not line:
            raise RknnWorkerError(f"RKNN worker died during '{cmd}': {self.log_tail(8)}")
        resp = json.loads(line)
        if not resp.get("ok"):
            raise RknnWorkerError(f"RKNN '{cmd}' failed: {resp.get('error')} | log: {self.log_tail(6)}")
        return resp.get("result", {})

    def close(self, kill: bool = False) -> None:
        """Stop the worker (``quit``, then kill after 10 s)."""
        if self.proc.poll() is None:
            if not kill:
                try:
                    self.proc.stdin.write(json.dumps({"id": 0, "cmd": "quit"}) + "\n")
                    self.proc.stdin.flush()
                    self.proc.wait(timeout=10)
                except Exception:
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):  # pragma: no cover - best effort
        try:
            if self.proc.poll() is None:
                self.proc.kill()
        except Exception:
            pass

"""Toolchain output (Python logging, sys.stderr, fd 2) goes to <run folder>/toolchain.log, not the terminal."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from voxquant.toolchain_log import run_log_folder, toolchain_output


def _chatter(tag: str) -> None:
    logging.getLogger("litert_torch").warning("pass %s", tag)
    logging.getLogger().warning("root %s", tag)
    print(f"stderr {tag}", file=sys.stderr)
    sys.stderr.flush()
    os.write(2, f"fd2 {tag}\n".encode())  # what C++ code (TF, MLIR, TFLite) does


def test_redirects_logging_stderr_and_fd2(tmp_path, capfd):
    with toolchain_output(tmp_path, what="unit") as path:
        _chatter("A")
    out, err = capfd.readouterr()
    assert path == tmp_path / "toolchain.log"
    text = path.read_text()
    for line in ("==== ", "unit", "pass A", "root A", "stderr A", "fd2 A"):
        assert line in text
    assert "A" not in err and "A" not in out
    _chatter("B")  # restored afterwards
    out, err = capfd.readouterr()
    assert "fd2 B" in err and "stderr B" in err
    assert "B" not in path.read_text()


def test_run_folder_wins_and_nesting_appends(tmp_path, capfd):
    run_dir, sub = tmp_path / "run", tmp_path / "run" / "litert"
    with run_log_folder(run_dir) as expect:
        with toolchain_output(sub, what="outer") as p1:
            with toolchain_output(tmp_path / "elsewhere", what="inner") as p2:
                _chatter("C")
    assert p1 == p2 == expect == run_dir / "toolchain.log"
    assert "fd2 C" in expect.read_text() and not (tmp_path / "elsewhere").exists()
    assert "C" not in capfd.readouterr().err


def test_exception_propagates_and_restores(tmp_path, capfd):
    with pytest.raises(RuntimeError, match="conversion failed"):
        with toolchain_output(tmp_path):
            raise RuntimeError("conversion failed")
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err
    assert logging.getLogger("litert_torch").propagate is True


def test_toolchain_rich_console_redirected(tmp_path, capfd):
    from rich.console import Console

    from voxquant.toolchain_log import redirect_console

    con = Console()  # like litert_torch.progress.console: stdout, resolved at print time
    with toolchain_output(tmp_path) as path:
        redirect_console(con)
        con.print("[ DONE] pass D")
    con.print("after D")
    out = capfd.readouterr().out
    assert "pass D" in path.read_text() and "pass D" not in out and "after D" in out

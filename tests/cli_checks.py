"""Shared assertion of the CLI's bad-input contract: exit 2 and exactly one ``error: ...`` line, no traceback."""

from __future__ import annotations


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """``code`` is 2, ``err`` holds exactly one non-blank line, it starts with ``error: ``, there is no traceback,
    and it contains every one of ``needles``."""
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])

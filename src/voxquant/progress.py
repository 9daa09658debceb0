"""Progress bars for long loops (rich), in one place: every bar shows elapsed time and an ETA.

The ETA is rich's ``TimeRemainingColumn`` (remaining steps x the average step time over rich's default speed
estimate window); it shows ``-:--:--`` until the first step has finished.
"""

from __future__ import annotations

from typing import Any, Callable


def _columns(label: str | None = None) -> list:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return [TextColumn(label if label is not None else "{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]  # fmt: skip


def progress(enabled: bool = True, transient: bool = False) -> Any:
    """A rich :class:`~rich.progress.Progress` (context manager) with description, bar, ``done/total``, elapsed time
    and ETA; with ``enabled=False`` a ``nullcontext(None)``.

    Use: ``with progress(show) as p: task = p.add_task("building", total=n); ...; p.advance(task)``.
    """
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.progress import Progress

    return Progress(*_columns(), transient=transient)


def step_bar(label: str, enabled: bool, total: int) -> Callable[[int | None, str], None]:
    """A rich progress bar driven by calls: ``bar(i, text)`` marks step ``i`` (0-based) done with a status text;
    ``bar(None, "")`` closes it. With ``enabled=False`` every call does nothing. Shows elapsed time and an ETA.

    Args:
        label: the bar's name (e.g. ``"training"``).
        enabled: show it.
        total: number of steps.
    """
    if not enabled:
        return lambda i, text: None
    from rich.progress import Progress, TextColumn

    prog = Progress(*_columns(label), TextColumn("{task.description}"))
    prog.start()
    task = prog.add_task("", total=total)

    def bar(i, text):
        if i is None:
            prog.stop()
            return
        prog.update(task, completed=i + 1, description=text)

    return bar


__all__ = ["progress", "step_bar"]

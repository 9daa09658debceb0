"""Progress bars for long loops (rich), in one place."""

from __future__ import annotations

from typing import Callable


def step_bar(label: str, enabled: bool, total: int) -> Callable[[int | None, str], None]:
    """A rich progress bar driven by calls: ``bar(i, text)`` marks step ``i`` (0-based) done with a status text;
    ``bar(None, "")`` closes it. With ``enabled=False`` every call does nothing.

    Args:
        label: the bar's name (e.g. ``"training"``).
        enabled: show it.
        total: number of steps.
    """
    if not enabled:
        return lambda i, text: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"))
    prog.start()
    task = prog.add_task("", total=total)

    def bar(i, text):
        if i is None:
            prog.stop()
            return
        prog.update(task, completed=i + 1, description=text)

    return bar


def step_progress():
    """A rich ``Progress`` for loops with several tasks (``add_task`` / ``update``): bar, done/total, elapsed and
    ETA. Use as a context manager."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), transient=False)


__all__ = ["step_bar", "step_progress"]

"""Progress bars show an ETA."""

from __future__ import annotations

from rich.progress import TimeRemainingColumn

from voxquant.progress import progress, step_bar


def test_progress_has_eta_column():
    with progress() as p:
        assert any(isinstance(c, TimeRemainingColumn) for c in p.columns)
        task = p.add_task("build", total=4)
        p.advance(task)
    with progress(enabled=False) as p:
        assert p is None


def test_step_bar_renders_eta(capsys):
    bar = step_bar("training", True, 2)
    bar(0, "epoch 1")
    bar(1, "epoch 2")
    bar(None, "")
    assert "ETA" in capsys.readouterr().out
    assert step_bar("off", False, 3)(0, "x") is None

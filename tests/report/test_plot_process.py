"""Plots drawn in a child process: the same PNGs as drawn in-process, and drawn here when the child fails."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from harness.analysis.summary import analyse
from harness.report import plot_process, plots


def _same_figures(forked: dict[str, Path], here: dict[str, Path]) -> None:
    assert sorted(forked) == sorted(here)
    for name, path in forked.items():
        assert path.read_bytes() == here[name].read_bytes(), f"{name}.png differs"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_the_child_draws_what_the_report_would_draw_itself(ab_run: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # pytest may run threads: fork anyway
    drawn_by: list[int] = []
    real = plots.render_plots

    def render(*args: object) -> dict[str, Path]:
        drawn_by.append(os.getpid())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(plot_process, "render_plots", render)
    analysis = analyse(ab_run)
    job = plot_process.start_plots(analysis, tmp_path / "forked")
    forked = job.paths()
    assert drawn_by == [], "drawn in the child, not here"
    _same_figures(forked, real(analysis, tmp_path / "here"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_failed_child_leaves_the_plots_to_this_process(ab_run: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    parent, real = os.getpid(), plots.render_plots

    def render(*args: object) -> dict[str, Path]:
        if os.getpid() != parent:
            raise RuntimeError("the child cannot draw")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(plot_process, "render_plots", render)
    analysis = analyse(ab_run)
    drawn = plot_process.start_plots(analysis, tmp_path / "plots").paths()
    _same_figures(drawn, real(analysis, tmp_path / "here"))


def test_with_other_threads_running_the_plots_are_drawn_here(ab_run: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("a process with threads must not fork"))
    drawn = plot_process.start_plots(analyse(ab_run), tmp_path / "plots").paths()
    assert drawn and all(path.read_bytes().startswith(b"\x89PNG") for path in drawn.values())

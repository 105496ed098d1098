"""The report's plots drawn in a child process while the rest of the report is written.

Drawing the PNGs is the report's largest fixed cost (matplotlib: about 0.4 s of CPU for the four
figures of a two-variant run, 40 % of the report of bench/replay_e2e.py's 4,000-row run under
cProfile). Nothing else in the report needs them until the HTML embeds them, so
:func:`start_plots` forks a child that draws and saves them on another core while this process
writes the tables, the summary and the transcripts; :meth:`PlotJob.paths` waits for it. Where
``fork`` is missing, or this process runs other Python threads (a fork copies only the calling
thread: a lock another thread held stays locked in the child), or the child fails, the plots
are drawn here instead, so the report is the same either way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from harness.analysis.summary import Analysis
from harness.report.plots import render_plots

__all__ = ["PlotJob", "start_plots"]

log = logging.getLogger(__name__)


class PlotJob:
    """Plots being drawn (or drawn already): :meth:`paths` gives name -> PNG path once they are saved."""

    def __init__(self, analysis: Analysis, out_dir: Path, pid: int | None = None, pipe: int | None = None,
                 drawn: dict[str, Path] | None = None) -> None:
        self._analysis, self._out_dir, self._pid, self._pipe, self._drawn = analysis, out_dir, pid, pipe, drawn

    def paths(self) -> dict[str, Path]:
        if self._drawn is None:
            self._drawn = self._from_child()
        return self._drawn

    def _from_child(self) -> dict[str, Path]:
        assert self._pid is not None and self._pipe is not None
        with os.fdopen(self._pipe, "rb") as pipe:
            sent = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        if os.waitstatus_to_exitcode(status) == 0:
            try:
                return {name: Path(path) for name, path in json.loads(sent).items()}
            except ValueError:
                pass
        log.debug("the plot process failed (exit status %s); drawing the plots here", status)
        return render_plots(self._analysis, self._out_dir)


def start_plots(analysis: Analysis, out_dir: Path) -> PlotJob:
    """Start drawing the report's plots into ``out_dir`` (see the module docstring)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return PlotJob(analysis, out_dir, drawn=render_plots(analysis, out_dir))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: draw, send the paths, and leave without running the parent's cleanup
        code = 1
        try:
            os.close(read)
            drawn = render_plots(analysis, out_dir)
            os.write(write, json.dumps({name: str(path) for name, path in drawn.items()}).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    return PlotJob(analysis, out_dir, pid=pid, pipe=read)

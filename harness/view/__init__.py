"""``harness view``: browse runs in a local web app — runs, results, transcripts, variants side by side.

A Starlette app served by uvicorn on 127.0.0.1. It reads run folders and never writes to them;
:mod:`harness.view.routes` lists its JSON API and pages; :mod:`harness.view.security`
says what keeps it safe to open from a link. Start it from Python with :func:`serve`, or::

    harness view reports/runs                    # opens the browser
    harness view traces/                         # production traces (harness.capture)
    harness view reports/runs --traces traces/   # both
"""

from __future__ import annotations

import logging
import threading
import webbrowser
from collections.abc import Sequence
from pathlib import Path

__all__ = ["create_app", "serve", "DEFAULT_PORT"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765


def create_app(runs_dir: str | Path | None, *, traces_dir: str | Path | None = None,  # type: ignore[no-untyped-def]
               allowed_hosts: list[str] | None = None):
    """The viewer app (a Starlette ASGI app) over ``runs_dir`` and a capture folder ``traces_dir``."""
    from harness.view.app import create_app as _create

    return _create(runs_dir, traces_dir=traces_dir, allowed_hosts=allowed_hosts)


def serve(runs_dir: str | Path | None, *, traces_dir: str | Path | None = None, host: str = "127.0.0.1",
          port: int = DEFAULT_PORT, open_browser: bool = True, allow_hosts: Sequence[str] = ()) -> None:
    """Serve the viewer until interrupted (Ctrl-C).

    Requests must name this machine (its names and addresses) or one of ``allow_hosts``, however
    ``host`` is bound: see :func:`harness.view.security.allowed_hosts`.
    """
    import uvicorn

    from harness.view.security import allowed_hosts

    hosts = allowed_hosts(host, allow_hosts)
    app = create_app(runs_dir, traces_dir=traces_dir, allowed_hosts=hosts)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    if open_browser:
        threading.Timer(0.8, webbrowser.open, args=(url,)).start()
    log.info("harness view on %s (runs from %s, traces from %s; answers to %s)", url, runs_dir, traces_dir,
             ", ".join(hosts))
    uvicorn.run(app, host=host, port=port, log_level="warning")

"""The viewer's web app (Starlette): :data:`~harness.view.routes.ROUTES` behind its safety layers.

The routes (the JSON API and the pages) are in :mod:`harness.view.routes`. Around them, outermost
first: :class:`~harness.view.security.SecurityHeaders` puts a strict Content-Security-Policy,
``nosniff`` and ``frame-ancestors 'none'`` on every response, and
:class:`~harness.view.security.HostAllowList` refuses a request that names another host (DNS
rebinding). Run ids are resolved by :class:`~harness.view.catalog.Catalog`, which refuses anything
outside the runs folder; the only other files served are the viewer's own assets, by exact name.
A capture folder (production traces) is served by :mod:`harness.view.traces` beside the runs, or alone.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from harness.view.catalog import Catalog
from harness.view.routes import MAX_PAGE, ROUTES, error_page
from harness.view.security import HostAllowList, SecurityHeaders
from harness.view.security import allowed_hosts as hosts_for
from harness.view.traces import TRACE_ROUTES, TraceCatalog

__all__ = ["create_app", "MAX_PAGE"]


def create_app(runs_dir: str | Path | None, *, traces_dir: str | Path | None = None,
               allowed_hosts: list[str] | None = None) -> Starlette:
    """The viewer app over the runs in ``runs_dir`` and the production traces in ``traces_dir``
    (either may be ``None``), answering only to ``allowed_hosts``.

    ``allowed_hosts`` defaults to the loopback names: what a viewer on 127.0.0.1 is reached by.
    """
    hosts = allowed_hosts if allowed_hosts is not None else hosts_for("127.0.0.1")
    app = Starlette(routes=[*ROUTES, *TRACE_ROUTES],
                    middleware=[Middleware(SecurityHeaders), Middleware(HostAllowList, hosts=hosts)],
                    exception_handlers={HTTPException: error_page, 404: error_page, 405: error_page})
    app.state.catalog = None if runs_dir is None else Catalog(Path(runs_dir))
    app.state.traces = None if traces_dir is None else TraceCatalog(Path(traces_dir))
    return app

"""The viewer's web app (Starlette): a JSON API under ``/api/`` and the pages that use it.

Every route is a GET: the viewer never writes into a run folder. Run ids are resolved by
:class:`~harness.view.catalog.Catalog`, which refuses anything outside the runs folder, and the
only other files served are the viewer's own assets, by exact name. Requests must name the
host the server is bound to (``TrustedHostMiddleware``), so a web page elsewhere cannot reach
the API through DNS rebinding.

API (all JSON):

``GET /api/runs``                             run ids (newest first) and each run's state
``GET /api/runs/{run}``                       one run's state: status, progress, problems
``GET /api/runs/{run}/summary``               leaderboard, comparisons, gates (as ``harness report``)
``GET /api/runs/{run}/rows``                  the results table: ``variant grader status tag task q sort desc
                                              offset limit``
``GET /api/runs/{run}/rows/{line}``           one row's transcript
``GET /api/runs/{run}/facets``                variants, score names and tags (the table's filter choices)
``GET /api/runs/{run}/matrix``                tasks x variants, pass/fail/error per cell
``GET /api/runs/{run}/compare``               ``task a b [epoch] [run_b]``: two attempts side by side
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from harness.report.transcript import row_transcript, transcript_pair
from harness.view.catalog import Catalog, RunNotFound
from harness.view.rows import RowQuery

__all__ = ["create_app", "MAX_PAGE"]

#: The most rows one page of the table returns.
MAX_PAGE = 500
_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_TRANSCRIPT_ASSETS = {"transcript.js": "text/javascript", "transcript.css": "text/css"}


def _clean(value: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _json(data: Any, status: int = 200) -> Response:
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_clean(data), ensure_ascii=False, default=str, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json")


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise HTTPException(400, f"{name} must be from {low} to {high}, got {value}")
    return value


@cache
def _asset(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def create_app(runs_dir: str | Path, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The viewer app over the runs in ``runs_dir``."""
    catalog = Catalog(Path(runs_dir))

    def run_of(request: Request) -> str:
        run_id = request.path_params["run"]
        try:
            catalog.folder(run_id)
        except RunNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        return str(run_id)

    async def page(request: Request) -> Response:
        return HTMLResponse(_asset("harness.view", "index.html"))

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name in _ASSETS:
            return Response(_asset("harness.view", name), media_type=_ASSETS[name])
        if name in _TRANSCRIPT_ASSETS:
            return Response(_asset("harness.report.transcript", name), media_type=_TRANSCRIPT_ASSETS[name])
        raise HTTPException(404, f"no asset {name!r}")

    def api_runs(request: Request) -> Response:
        states = []
        for run_id in catalog.run_ids():
            try:
                states.append(catalog.state(run_id).as_json())
            except (ValueError, OSError) as exc:  # one unreadable run folder must not hide the others
                states.append({"run_id": run_id, "status": "damaged", "problems": [f"{type(exc).__name__}: {exc}"],
                               "suite": "?", "variants": [], "rows": 0})
        suite = request.query_params.get("suite")
        if suite:
            states = [s for s in states if s.get("suite") == suite]
        return _json({"run_ids": [s["run_id"] for s in states], "runs": states})

    def api_run(request: Request) -> Response:
        return _json(catalog.state(run_of(request)).as_json())

    def api_summary(request: Request) -> Response:
        return _json(catalog.analysis(run_of(request)))

    def api_rows(request: Request) -> Response:
        run_id = run_of(request)
        params = request.query_params
        query = RowQuery(variant=params.get("variant", ""), grader=params.get("grader", ""),
                         status=params.get("status", ""), tag=params.get("tag", ""), task=params.get("task", ""),
                         q=params.get("q", "").strip(), sort=params.get("sort", ""),
                         desc=params.get("desc", "") in ("1", "true"),
                         offset=_int(request, "offset", 0, 0, 10**9), limit=_int(request, "limit", 50, 1, MAX_PAGE))
        if query.status and query.status not in ("pass", "fail", "error"):
            raise HTTPException(400, f"status must be pass, fail or error, got {query.status!r}")
        try:
            result = catalog.rows(run_id).page(query)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return _json({"total_rows": result.total_rows, "matched": result.matched, "offset": result.offset,
                      "rows": [h.as_json() for h in result.rows]})

    def api_row(request: Request) -> Response:
        run_id = run_of(request)
        index = catalog.rows(run_id)
        try:
            line = int(request.path_params["line"])
        except ValueError:
            raise HTTPException(400, "the row is its line number in results.jsonl, from 0") from None
        if not 0 <= line < index.refresh():
            raise HTTPException(404, f"run {run_id} has no row {line}")
        return _json(row_transcript(index.row(line)) | {"line": line})

    def api_facets(request: Request) -> Response:
        run_id = run_of(request)
        heads = catalog.rows(run_id).all_heads()
        variants = catalog.state(run_id).variants
        scores: dict[str, None] = {}
        tags: set[str] = set()
        for head in heads:
            if head.variant not in variants:
                variants.append(head.variant)
            scores.update(dict.fromkeys(head.scores))
            tags.update(head.tags)
        return _json({"variants": variants, "scores": list(scores), "tags": sorted(tags)})

    def api_matrix(request: Request) -> Response:
        run_id = run_of(request)
        heads = catalog.rows(run_id).all_heads()
        variants = catalog.state(run_id).variants
        for head in heads:
            if head.variant not in variants:
                variants.append(head.variant)
        cells: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for head in heads:
            cells.setdefault(head.task, {}).setdefault(head.variant, []).append(
                {"line": head.line, "epoch": head.epoch, "status": head.status})
        return _json({"variants": variants, "tasks": [{"task": t, "cells": c} for t, c in cells.items()]})

    def api_compare(request: Request) -> Response:
        run_id = run_of(request)
        params = request.query_params
        task, a, b = params.get("task"), params.get("a"), params.get("b")
        if not (task and a and b):
            raise HTTPException(400, "compare needs task, a and b (two variants; b of run_b when given)")
        epoch = _int(request, "epoch", 1, 1, 10**6)
        run_b = params.get("run_b") or run_id
        if run_b != run_id:
            try:
                catalog.folder(run_b)
            except RunNotFound as exc:
                raise HTTPException(404, str(exc)) from None
        sides = []
        for rid, variant in ((run_id, a), (run_b, b)):
            index = catalog.rows(rid)
            line = index.find(variant, task, epoch)
            if line is None:
                raise HTTPException(404, f"run {rid} has no row for task {task!r}, variant {variant!r}, epoch {epoch}")
            sides.append(row_transcript(index.row(line)) | {"line": line, "run": rid})
        return _json(transcript_pair(sides[0], sides[1]))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", str(exc))
        if request.url.path.startswith("/api/"):
            return _json({"error": detail}, status=status)
        return HTMLResponse(f"<!DOCTYPE html><title>{status}</title><p>{status}: {detail}</p>", status_code=status)

    routes = [
        Route("/", page),
        Route("/runs/{run}", page),
        Route("/runs/{run}/rows/{line}", page),
        Route("/runs/{run}/compare", page),
        Route("/runs/{run}/matrix", page),
        Route("/assets/{name}", asset),
        Route("/api/runs", api_runs),
        Route("/api/runs/{run}", api_run),
        Route("/api/runs/{run}/summary", api_summary),
        Route("/api/runs/{run}/rows", api_rows),
        Route("/api/runs/{run}/rows/{line}", api_row),
        Route("/api/runs/{run}/facets", api_facets),
        Route("/api/runs/{run}/matrix", api_matrix),
        Route("/api/runs/{run}/compare", api_compare),
    ]
    hosts = allowed_hosts or ["127.0.0.1", "localhost"]
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
                     exception_handlers={HTTPException: not_found, 404: not_found, 405: not_found})

"""Every route of ``harness view``: the JSON API under ``/api/``, the pages, the viewer's own assets.

Each handler is a plain function of the request; the :class:`~harness.view.catalog.Catalog` it
reads is ``request.app.state.catalog`` (set by :func:`harness.view.app.create_app`). Every route
is a GET: the viewer never writes into a run folder.

API (all JSON):

``GET /api/runs``                             every run folder (newest first) and its state; a folder
                                              that cannot be opened is listed with why
``GET /api/runs/{run}``                       one run's state: status, progress, identity, problems
``GET /api/runs/{run}/summary``               leaderboard, comparisons, gates (as ``harness report``)
``GET /api/runs/{run}/rows``                  the results table: ``variant grader status tag task q sort desc
                                              offset limit``
``GET /api/runs/{run}/grid``                  the same filters, one row per task, one cell per variant
``GET /api/runs/{run}/rows/{line}``           one row's transcript, with the previous and next row
``GET /api/runs/{run}/facets``                variants, score names and tags (the table's filter choices)
``GET /api/runs/{run}/matrix``                tasks x variants, pass/fail/error per cell
``GET /api/runs/{run}/prompts``               ``a b``: two variants' prompts, part by part, with a diff
``GET /api/runs/{run}/compare``               ``task a b [epoch] [run_b]``: two attempts side by side

``{run}`` is the run's folder name under the runs folder (a copied folder is its own run).
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from importlib import resources
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from harness.report.transcript import output_diff, row_transcript, transcript_pair
from harness.view.catalog import Catalog, RunNotFound
from harness.view.rows import RowQuery

__all__ = ["ROUTES", "MAX_PAGE", "error_page", "page", "json_response", "api_int"]

#: The most rows (or grid tasks) one page of the table returns.
MAX_PAGE = 500
_ASSETS = {"app.js": "text/javascript", "traces.js": "text/javascript", "app.css": "text/css"}
_TRANSCRIPT_ASSETS = {"transcript.js": "text/javascript", "transcript.css": "text/css"}


# -- helpers ---------------------------------------------------------------------------------------

def _clean(value: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def json_response(data: Any, status: int = 200) -> Response:
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_clean(data), ensure_ascii=False, default=str, separators=(",", ":"))
    # "<" as \u003c: the same JSON to a parser, and no tag for anything that reads it as HTML anyway.
    return Response(text.replace("<", "\\u003c"), status_code=status, media_type="application/json")


def api_int(request: Request, name: str, default: int, low: int, high: int) -> int:
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


def _catalog(request: Request) -> Catalog:
    catalog: Catalog | None = request.app.state.catalog
    if catalog is None:
        raise HTTPException(404, "this viewer serves no runs folder (harness view RUNS_DIR)")
    return catalog


def _run(request: Request, run_id: str | None = None) -> str:
    """The run folder the request names (404 for anything that is not a run under the runs folder)."""
    run = str(run_id if run_id is not None else request.path_params["run"])
    try:
        _catalog(request).folder(run)
    except RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return run


def _query(request: Request) -> RowQuery:
    params = request.query_params
    query = RowQuery(variant=params.get("variant", ""), grader=params.get("grader", ""),
                     status=params.get("status", ""), tag=params.get("tag", ""), task=params.get("task", ""),
                     q=params.get("q", "").strip(), sort=params.get("sort", ""),
                     desc=params.get("desc", "") in ("1", "true"),
                     offset=api_int(request, "offset", 0, 0, 10**9), limit=api_int(request, "limit", 50, 1, MAX_PAGE))
    if query.status and query.status not in ("pass", "fail", "error"):
        raise HTTPException(400, f"status must be pass, fail or error, got {query.status!r}")
    return query


# -- pages and assets ------------------------------------------------------------------------------

async def page(request: Request) -> Response:
    if request.url.path == "/" and request.app.state.catalog is None:  # a viewer of production traces only
        return RedirectResponse("/traces")
    return HTMLResponse(_asset("harness.view", "index.html"))


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name in _ASSETS:
        return Response(_asset("harness.view", name), media_type=_ASSETS[name])
    if name in _TRANSCRIPT_ASSETS:
        return Response(_asset("harness.report.transcript", name), media_type=_TRANSCRIPT_ASSETS[name])
    raise HTTPException(404, f"no asset {name!r}")


async def error_page(request: Request, exc: Exception) -> Response:
    """Errors as JSON under /api/, else a small page; the request's text is escaped, never echoed raw."""
    status = int(getattr(exc, "status_code", 500))
    detail = str(getattr(exc, "detail", None) or exc)
    if request.url.path.startswith("/api/"):
        return json_response({"error": detail}, status=status)
    text = html.escape(f"{status}: {detail}", quote=True)
    return HTMLResponse(f'<!DOCTYPE html><html lang="en"><meta charset="utf-8"><title>{status}</title>'
                        f'<p>{text}</p><p><a href="/">harness view</a></p></html>', status_code=status)


# -- the API ---------------------------------------------------------------------------------------

def api_runs(request: Request) -> Response:
    states = _catalog(request).listing()
    suite = request.query_params.get("suite")
    if suite:
        states = [s for s in states if s.get("suite") == suite]
    traces = request.app.state.traces
    return json_response({"run_ids": [s["run_id"] for s in states], "runs": states,
                          "traces": None if traces is None else {"folder": str(traces.folder)}})


def api_run(request: Request) -> Response:
    return json_response(_catalog(request).state(_run(request)).as_json())


def api_summary(request: Request) -> Response:
    return json_response(_catalog(request).analysis(_run(request)))


def api_rows(request: Request) -> Response:
    run_id, query = _run(request), _query(request)
    try:
        result = _catalog(request).rows(run_id).page(query)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return json_response({"total_rows": result.total_rows, "matched": result.matched, "offset": result.offset,
                  "sorted": result.sorted, "rows": [h.as_json() for h in result.rows]})


def api_grid(request: Request) -> Response:
    run_id, query = _run(request), _query(request)
    catalog = _catalog(request)
    grid = catalog.rows(run_id).grid(query, catalog.variants(run_id))
    return json_response(grid)


def api_row(request: Request) -> Response:
    run_id = _run(request)
    index = _catalog(request).rows(run_id)
    try:
        line = int(request.path_params["line"])
    except ValueError:
        raise HTTPException(400, "the row is its line number in results.jsonl, from 0") from None
    if not 0 <= line < index.refresh():
        raise HTTPException(404, f"run {run_id} has no row {line}")
    try:
        transcript = row_transcript(index.row(line))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return json_response(transcript | {"line": line} | index.neighbours(line))


def api_facets(request: Request) -> Response:
    run_id = _run(request)
    catalog = _catalog(request)
    scores: dict[str, None] = {}
    tags: set[str] = set()
    for head in catalog.rows(run_id).all_heads():
        scores.update(dict.fromkeys(head.scores))
        tags.update(head.tags)
    return json_response({"variants": catalog.variants(run_id), "scores": list(scores), "tags": sorted(tags)})


def api_matrix(request: Request) -> Response:
    run_id = _run(request)
    catalog = _catalog(request)
    cells: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for head in catalog.rows(run_id).all_heads():
        cells.setdefault(head.task, {}).setdefault(head.variant, []).append(
            {"line": head.line, "epoch": head.epoch, "status": head.status})
    return json_response({"variants": catalog.variants(run_id),
                  "tasks": [{"task": t, "cells": c} for t, c in sorted(cells.items())]})


def api_prompts(request: Request) -> Response:
    run_id = _run(request)
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    prompts = _catalog(request).prompts(run_id)
    missing = [v for v in (a, b) if v not in prompts]
    if missing:
        raise HTTPException(404, f"run {run_id} has no variant {missing[0]!r} (has: {', '.join(prompts)})")
    left, right = prompts[a], prompts[b]
    names = list(left["parts"]) + [p for p in right["parts"] if p not in left["parts"]]
    parts = [{"part": name, "a": left["parts"].get(name), "b": right["parts"].get(name),
              "diff": output_diff(left["parts"].get(name) or "", right["parts"].get(name) or "")} for name in names]
    return json_response({"a": left | {"variant": a}, "b": right | {"variant": b}, "parts": parts})


def api_compare(request: Request) -> Response:
    run_id = _run(request)
    params = request.query_params
    task, a, b = params.get("task"), params.get("a"), params.get("b")
    if not (task and a and b):
        raise HTTPException(400, "compare needs task, a and b (two variants; b of run_b when given)")
    epoch = api_int(request, "epoch", 1, 1, 10**6)
    run_b = _run(request, params.get("run_b") or run_id)
    sides = []
    for rid, variant in ((run_id, a), (run_b, b)):
        index = _catalog(request).rows(rid)
        line = index.find(variant, task, epoch)
        if line is None:
            raise HTTPException(404, f"run {rid} has no row for task {task!r}, variant {variant!r}, epoch {epoch}")
        sides.append(row_transcript(index.row(line)) | {"line": line, "run": rid})
    return json_response(transcript_pair(sides[0], sides[1]))


ROUTES = [
    Route("/", page),
    Route("/runs/{run}", page),
    Route("/runs/{run}/rows/{line}", page),
    Route("/runs/{run}/compare", page),
    Route("/runs/{run}/matrix", page),
    Route("/runs/{run}/prompts", page),
    Route("/assets/{name}", asset),
    Route("/api/runs", api_runs),
    Route("/api/runs/{run}", api_run),
    Route("/api/runs/{run}/summary", api_summary),
    Route("/api/runs/{run}/rows", api_rows),
    Route("/api/runs/{run}/grid", api_grid),
    Route("/api/runs/{run}/rows/{line}", api_row),
    Route("/api/runs/{run}/facets", api_facets),
    Route("/api/runs/{run}/matrix", api_matrix),
    Route("/api/runs/{run}/prompts", api_prompts),
    Route("/api/runs/{run}/compare", api_compare),
]

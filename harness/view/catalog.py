"""The runs under one folder, as the viewer reads them: never written, never outside the folder.

:class:`Catalog` resolves a run id to its folder only when the id names a direct child of the
runs folder that holds a ``run.json`` (no separators, no ``..``, no symlink leading out), keeps
one :class:`~harness.view.rows.RowIndex` per run, and caches each run's analysis (leaderboard,
comparisons, gates: computed by the analysis and gate layers, exactly as ``harness report`` and
``harness gate`` compute them) until its ``results.jsonl`` or ``run.json`` changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analysis.status import declared_problems
from harness.core.results import RunFolder, RunManifest
from harness.view.rows import RowIndex, file_signature

__all__ = ["Catalog", "RunNotFound", "RunState"]

log = logging.getLogger(__name__)

#: A running run's analysis is recomputed at most this often (its rows change every moment).
LIVE_ANALYSIS_EVERY_S = 5.0


class RunNotFound(LookupError):
    """No run with that id under the runs folder (or an id that tries to leave it)."""


@dataclass
class RunState:
    """What the home page and the live view say about a run, without reading its rows' contents."""

    run_id: str
    suite: str
    status: str
    manifest_status: str
    created_at: str
    finished_at: str | None
    variants: list[str]
    baseline: str | None
    rows: int
    expected_rows: int | None
    problems: list[str]

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Cached:
    signature: tuple[Any, ...]
    made_at: float
    value: Any


@dataclass
class Catalog:
    """Every run folder directly under ``root``."""

    root: Path
    _indexes: dict[str, RowIndex] = field(default_factory=dict)
    _manifests: dict[str, _Cached] = field(default_factory=dict)
    _analyses: dict[str, _Cached] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    # -- finding runs ------------------------------------------------------------------------
    def run_ids(self) -> list[str]:
        """Run ids, newest first (ids start with their UTC start time)."""
        if not self.root.is_dir():
            return []
        return sorted((p.name for p in self.root.iterdir() if (p / "run.json").is_file()), reverse=True)

    def folder(self, run_id: str) -> Path:
        """The folder of ``run_id``; :class:`RunNotFound` for anything that is not a run directly under root."""
        if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", "..") or "\x00" in run_id:
            raise RunNotFound(f"no run {run_id!r}")
        path = (self.root / run_id).resolve()
        if path.parent != self.root or not (path / "run.json").is_file():
            raise RunNotFound(f"no run {run_id!r} under {self.root}")
        return path

    def manifest(self, run_id: str) -> RunManifest:
        folder = RunFolder(self.folder(run_id))
        signature = file_signature(folder.manifest_path)
        cached = self._manifests.get(run_id)
        if cached is None or cached.signature != signature:
            cached = _Cached(signature, time.monotonic(), folder.manifest())
            self._manifests[run_id] = cached
        return cached.value  # type: ignore[no-any-return]

    def rows(self, run_id: str) -> RowIndex:
        folder = self.folder(run_id)
        with self._lock:
            index = self._indexes.get(run_id)
            if index is None:
                index = self._indexes[run_id] = RowIndex(folder / "results.jsonl")
        return index

    # -- state -------------------------------------------------------------------------------
    def state(self, run_id: str) -> RunState:
        manifest = self.manifest(run_id)
        index = self.rows(run_id)
        rows = index.refresh()
        problems = list(index.problems)
        running = manifest.status == "running"
        if index.pending_bytes and not running:
            problems.append(f"results.jsonl ends in a torn line ({index.pending_bytes} bytes): the run was "
                            "killed while writing it; that row is not counted")
        expected = manifest.totals.get("expected_rows")
        status = _status(manifest.status, rows, expected, problems, declared_problems(manifest))
        analysed = self._analysed_status(run_id)
        if analysed is not None:  # the analysis layer's word, once computed: the one report and gate print
            status, problems = analysed["word"], list(analysed["problems"])
        return RunState(run_id=manifest.run_id, suite=manifest.suite, status=status,
                        manifest_status=manifest.status, created_at=manifest.created_at,
                        finished_at=manifest.finished_at, variants=[v.name for v in manifest.variants],
                        baseline=manifest.baseline_variant, rows=rows,
                        expected_rows=int(expected) if isinstance(expected, int | float) else None, problems=problems)

    def _analysed_status(self, run_id: str) -> dict[str, Any] | None:
        """``run_status`` from the cached analysis, if one matches the run folder as it is now."""
        cached = self._analyses.get(run_id)
        if cached is None or not cached.value.get("status"):
            return None
        folder = self.folder(run_id)
        current = (file_signature(folder / "results.jsonl"), file_signature(folder / "run.json"))
        return cached.value["status"] if cached.signature == current else None

    # -- analysis ----------------------------------------------------------------------------
    def analysis(self, run_id: str) -> dict[str, Any]:
        """The run's summary and gate report as JSON data, cached until the run folder changes."""
        folder = self.folder(run_id)
        signature = (file_signature(folder / "results.jsonl"), file_signature(folder / "run.json"))
        with self._lock:
            lock = self._locks.setdefault(run_id, threading.Lock())
        with lock:  # one computation per run at a time; other requests wait for its result
            cached = self._analyses.get(run_id)
            live = self.manifest(run_id).status == "running"
            if cached is not None and (cached.signature == signature or
                                       (live and time.monotonic() - cached.made_at < LIVE_ANALYSIS_EVERY_S)):
                return cached.value  # type: ignore[no-any-return]
            value = _analyse(folder)
            self._analyses[run_id] = _Cached(signature, time.monotonic(), value)
            return value


def _status(manifest_status: str, rows: int, expected: Any, problems: list[str], shortfall: list[str]) -> str:
    """The word before the run is analysed, from run.json and the row index (no pandas).

    running · damaged (rows that do not read) · partial (less than the suite declares, stopped early,
    or rows missing) · complete. Once analysed, :func:`harness.analysis.status.run_status` replaces it.
    """
    if manifest_status == "running":
        return "running"
    if problems:
        return "damaged"
    if manifest_status == "failed":
        return "failed"
    if (shortfall or manifest_status != "complete"
            or (isinstance(expected, int | float) and rows < expected)):
        return "partial"
    return "complete"


def _analyse(folder: Path) -> dict[str, Any]:
    """Summary and gates from the analysis and gate layers: the numbers ``harness report``/``gate`` give."""
    import json

    from harness.analysis.run_data import load_run_data
    from harness.analysis.status import run_status
    from harness.analysis.summary import analyse
    from harness.gate import evaluate_gates

    started = time.perf_counter()
    data = load_run_data(folder)
    out: dict[str, Any] = {"summary": None, "gates": None, "error": None}
    if not data.rows:
        out["error"] = "no rows yet"
        return out
    try:
        analysis = analyse(data)
        # pydantic writes NaN (an undefined difference) as null, which JSON can carry.
        out["summary"] = json.loads(analysis.summary.model_dump_json())
    except Exception as exc:  # an unreadable run is shown as such, not as a crashed page
        log.exception("analysis of %s failed", folder)
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["status"] = run_status(data).model_dump()
    try:
        out["gates"] = json.loads(evaluate_gates(data).model_dump_json())
    except (ValueError, OSError) as exc:  # a gate that cannot be evaluated (e.g. its baseline is missing)
        out["gates_error"] = f"{type(exc).__name__}: {exc}"
    log.info("analysed %s in %.2f s", folder.name, time.perf_counter() - started)
    return out

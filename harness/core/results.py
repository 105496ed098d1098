"""The run folder: the one interface between running and everything after it.

``reports/runs/<run-id>/``
    ``run.json``       the manifest (:class:`RunManifest`), rewritten atomically as the run goes
    ``results.jsonl``  one :class:`ResultRow` per (task, variant, epoch), appended and flushed
                       the moment it finishes, so kill -9 loses only rows in flight

Run ids start with a UTC timestamp, so they sort by time. See ``docs/run-folder.md``.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from harness.core.atomic import write_text_atomic
from harness.core.trace import Trajectory

__all__ = [
    "FORMAT_VERSION",
    "TASK_HASH_VERSION",
    "latest_runs",
    "ErrorInfo",
    "ErrorKind",
    "ScoreRecord",
    "Usage",
    "ResultRow",
    "VariantInfo",
    "RunManifest",
    "RunTotals",
    "Tally",
    "RunFolder",
    "RunFolderError",
    "DamagedLine",
    "ResultWriter",
    "row_line",
    "flatten_row",
    "load_run",
    "read_rows",
    "new_run_id",
    "latest_run",
]

FORMAT_VERSION = 1
#: How ``run.json`` ``task_hashes`` are computed (:meth:`harness.core.dataset.Task.content_sha256`).
TASK_HASH_VERSION = 1


class RunFolderError(ValueError):
    """A run folder that is missing, unreadable or of an unknown format version."""


#: How :class:`ErrorInfo` sorts errors (reports group by it).
ErrorKind = Literal["task", "timeout", "model", "cassette_miss", "budget", "grader", "config"]


class ErrorInfo(BaseModel):
    """Why a task (or a grader) produced no result. ``kind`` sorts errors for reports."""

    kind: ErrorKind = "task"
    type: str
    message: str
    traceback: str | None = None


class ScoreRecord(BaseModel):
    """One grader's verdict on one row: which grader, with which parameters, and why."""

    grader: str
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    value: float | None = None
    passed: bool | None = None
    reason: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None


class Usage(BaseModel):
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    #: The cost of the priced calls; with ``unpriced_calls`` above 0 the true cost is unknown.
    cost_usd: float = 0.0
    #: Model calls to a model with no known price (see :mod:`harness.engine.pricing`).
    unpriced_calls: int = 0

    @property
    def cost_known(self) -> bool:
        return self.unpriced_calls == 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ResultRow(BaseModel):
    """One (task, variant, epoch). Task errors and grader errors are separate fields."""

    format_version: int = FORMAT_VERSION
    run_id: str
    suite: str
    variant: str
    task_id: str
    epoch: int = 1
    input: Any = None
    expected: Any = None
    tags: list[str] = Field(default_factory=list)
    output: Any = None
    state: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None
    scores: list[ScoreRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    #: Seconds the task took; for a replayed task, the recorded latency (see ``replayed``).
    latency_s: float = 0.0
    replayed: bool = False
    trajectory: Trajectory = Field(default_factory=Trajectory)
    cassette: str | None = None
    started_at: str = ""
    finished_at: str = ""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.variant, self.task_id, self.epoch)

    @property
    def grader_errors(self) -> int:
        return sum(1 for s in self.scores if s.error is not None)


class VariantInfo(BaseModel):
    name: str
    settings: dict[str, Any]
    settings_hash: str
    #: The prompt's text, part by part (``{"main": "..."}``), so two variants' prompts can be
    #: diffed from the run folder alone; absent in runs written before it was stored.
    prompt_parts: dict[str, str] | None = None


class RunManifest(BaseModel):
    """``run.json``: everything needed to say what ran, with what, and how far it got."""

    format_version: int = FORMAT_VERSION
    run_id: str
    suite: str
    suite_file: str | None = None
    status: Literal["running", "complete", "interrupted", "budget_exceeded", "failed"] = "running"
    created_at: str
    finished_at: str | None = None
    git_commit: str | None = None
    #: The work tree had uncommitted changes to tracked files (``git status``); None: unknown.
    git_dirty: bool | None = None
    #: A person's name for the run (``harness run --label``) and what it is for (``--notes``).
    label: str | None = None
    description: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    dataset: dict[str, Any] = Field(default_factory=dict)
    variants: list[VariantInfo] = Field(default_factory=list)
    graders: list[dict[str, Any]] = Field(default_factory=list)
    gates: list[dict[str, Any]] = Field(default_factory=list)
    baseline_variant: str | None = None
    #: The (baseline, candidate) pairs the suite compares (``Suite(comparisons=)``); empty: every
    #: variant against ``baseline_variant``.
    comparisons: list[tuple[str, str]] = Field(default_factory=list)
    epochs: int = 1
    concurrency: int = 8
    record_mode: str = "none"
    backend: dict[str, Any] = Field(default_factory=dict)
    shard: str | None = None
    #: Processes (or Ray workers) the run was spread over (``--workers``).
    workers: int = 1
    #: Where the units ran: ``{"kind": "local"}``, or Ray's ``{"kind": "ray", "address", "nodes", "ray"}``.
    executor: dict[str, Any] = Field(default_factory=lambda: {"kind": "local"})
    pass_threshold: float = 1.0
    #: Task error rate above which gates call the run incomplete (exit 3); None: the default.
    max_error_rate: float | None = None
    #: What the suite itself declares, before any narrowing (--ids, --limit, -k, a shard):
    #: ``{"tasks": 40, "variants": ["a", "b"], "epochs": 3}``. A run that covers less is *partial*.
    #: Absent in runs written before it existed; their coverage is then judged by ``dataset``.
    declared: dict[str, Any] = Field(default_factory=dict)
    totals: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    #: Task id -> :meth:`harness.core.dataset.Task.content_sha256` of every task the run ran, so a
    #: run compared with another can tell a changed task from the same one. Versioned by
    #: ``task_hash_version`` (1: sha256 of input and expected, 16 hex digits); both absent in runs
    #: written before they existed, which are compared by ``dataset["sha256"]`` alone.
    task_hashes: dict[str, str] = Field(default_factory=dict)
    task_hash_version: int | None = None

    def comparison_pairs(self, variants: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """The (baseline, candidate) pairs the suite compares: the declared ones, else each of
        ``variants`` (default: the manifest's) against the baseline variant, or the first variant.

        A pair may name a variant the run lacks (a partial run): the declared baseline is kept
        even then, never swapped for whichever variant comes first. Callers decide whether a
        missing variant is an error (a gate) or a comparison to leave out with a note (a report).
        """
        if self.comparisons:
            return [(base, candidate) for base, candidate in self.comparisons]
        names = list(variants) if variants is not None else [v.name for v in self.variants]
        baseline = self.baseline_variant or (names[0] if names else None)
        return [(baseline, v) for v in names if v != baseline] if baseline is not None else []


#: :meth:`RunTotals.as_tuple`: its fields in declared order, typed one by one so that
#: ``RunTotals(*tally)`` type-checks on the receiving side.
Tally = tuple[int, int, int, int, int, int, float, int]


@dataclass
class RunTotals:
    """Running sums over the rows of a run (what `run.json` `totals` holds)."""

    rows: int = 0
    errors: int = 0
    grader_errors: int = 0
    passed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    model_calls: int = 0

    @classmethod
    def of(cls, row: ResultRow) -> RunTotals:
        """One row's share: small enough to send from a worker process beside the row's line.

        One loop over the scores and positional fields: once per row, where two generator
        expressions over the scores and keyword fields took 16.8 k instructions against 10.2 k
        (callgrind; issue 25, bench/live_overhead.py).
        """
        grader_errors = 0
        passed = row.error is None and bool(row.scores)
        for score in row.scores:
            if score.error is not None:
                grader_errors += 1
                passed = False
            elif not score.passed:
                passed = False
        usage = row.usage
        return cls(1, int(row.error is not None), grader_errors, int(passed), usage.input_tokens, usage.output_tokens,
                   usage.cost_usd, usage.model_calls)

    def add(self, row: ResultRow) -> None:
        self.merge(RunTotals.of(row))

    def merge(self, other: RunTotals) -> None:
        # Field by field, not a loop over dataclasses.fields(): once per row, where the loop cost
        # 12 us against 2 (timeit, a busy machine; bench/runner_throughput.py).
        self.rows += other.rows
        self.errors += other.errors
        self.grader_errors += other.grader_errors
        self.passed += other.passed
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.model_calls += other.model_calls

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def as_tuple(self) -> Tally:
        """The fields in order (``RunTotals(*t)`` rebuilds it): cheap to send between processes."""
        return (self.rows, self.errors, self.grader_errors, self.passed, self.input_tokens, self.output_tokens,
                self.cost_usd, self.model_calls)


def new_run_id(suite: str) -> str:
    """``20261125T151230Z-<suite>-<4 hex>``: sorts by time, unique across parallel shards."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}Z-{suite}-{secrets.token_hex(2)}"


@dataclass
class RunFolder:
    """Writes and reads one run folder."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @property
    def manifest_path(self) -> Path:
        return self.path / "run.json"

    @property
    def results_path(self) -> Path:
        return self.path / "results.jsonl"

    @property
    def sidecar_path(self) -> Path:
        """The columnar cache of ``results.jsonl`` (:mod:`harness.core.sidecar`), made and checked by its readers."""
        return self.path / ".derived" / "results.parquet"

    def sidecar_looks_stale(self) -> bool:
        """Rows without a sidecar, or a sidecar older than them: a stat, for deciding whether to build
        it ahead; readers trust only :func:`harness.core.sidecar.read_columns`' own check."""
        try:
            return self.sidecar_path.stat().st_mtime_ns < self.results_path.stat().st_mtime_ns
        except OSError:  # no sidecar, or not a run folder at all (a file given as a baseline): its reader says so
            return self.results_path.is_file()

    @classmethod
    def create(cls, root: Path, manifest: RunManifest) -> RunFolder:
        folder = cls(root / manifest.run_id)
        folder.path.mkdir(parents=True, exist_ok=False)
        folder.write_manifest(manifest)
        folder.results_path.touch()
        return folder

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        folder = cls(Path(path))
        if not folder.manifest_path.is_file():
            raise RunFolderError(f"{folder.path} is not a run folder (no run.json)")
        return folder

    def write_manifest(self, manifest: RunManifest) -> None:
        write_text_atomic(self.manifest_path, manifest.model_dump_json(indent=2))

    def manifest(self) -> RunManifest:
        """``run.json``, validated; anything wrong with it is a :class:`RunFolderError` naming the file."""
        path = self.manifest_path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RunFolderError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RunFolderError(f"{path}: cannot read it ({exc})") from None
        if not isinstance(data, dict):
            raise RunFolderError(f"{path}: expected a JSON object, got {type(data).__name__}")
        _check_version(data, path)
        try:
            return RunManifest.model_validate(data)
        except ValidationError as exc:
            fields = "; ".join(f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors()[:5])
            raise RunFolderError(f"{path}: not a run manifest ({fields})") from None

    def rows(self) -> Iterator[ResultRow]:
        return read_rows(self.results_path)

    def repair(self, keep: Any = None) -> list[ResultRow]:
        """Make ``results.jsonl`` whole again before a resume and return the rows kept.

        Drops a torn last line (kill -9 mid-write), keeps the last row per key, and drops rows
        ``keep`` rejects (by default: rows with a task error, which a resume runs again). The
        rewrite is atomic, so a resumed run never holds duplicate rows.
        """
        keep = keep or (lambda row: row.error is None)
        latest: dict[tuple[str, str, int], ResultRow] = {}
        for row in read_rows(self.results_path, tolerate_torn_tail=True):
            latest[row.key] = row
        kept = [row for row in latest.values() if keep(row)]
        write_text_atomic(self.results_path, "".join(row.model_dump_json() + "\n" for row in kept))
        return kept


def _check_version(data: dict[str, Any], path: Path) -> None:
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise RunFolderError(
            f"{path}: format_version {version!r} is not supported (this harness reads version {FORMAT_VERSION})"
        )


@dataclass(frozen=True)
class DamagedLine:
    """A ``results.jsonl`` line that could not be read as a row."""

    path: Path
    line: int
    reason: str
    #: the last line of the file: a write cut short by a kill, not an edit
    torn_tail: bool

    def __str__(self) -> str:
        what = "torn last line" if self.torn_tail else "unreadable line"
        return f"{self.path.name}:{self.line}: {what} ({self.reason})"


def read_rows(path: Path, tolerate_torn_tail: bool = True,
              damage: list[DamagedLine] | None = None) -> Iterator[ResultRow]:
    """Stream rows. A torn final line (the run was killed mid-write) is skipped, not fatal.

    With ``damage`` (a list), no bad line is fatal: each is recorded there and skipped, so an
    analysis can read what is readable and still say the run is damaged, and where.
    """
    with path.open("r", encoding="utf-8") as handle:
        lines = iter(handle)
        previous: str | None = next(lines, None)
        number = 1
        row: ResultRow | None
        while previous is not None:
            current = next(lines, None)
            if previous.strip():
                last = current is None
                try:
                    row = ResultRow.model_validate_json(previous)  # pydantic's own parser: fastest
                except ValidationError:
                    try:
                        row = _explain_bad_row(previous, path, number, torn=last and tolerate_torn_tail)
                    except RunFolderError as exc:
                        if damage is None:
                            raise
                        damage.append(DamagedLine(path, number, str(exc).split(": ", 2)[-1][:300], torn_tail=last))
                        row = None
                    else:
                        if row is None and damage is not None:
                            damage.append(DamagedLine(path, number, "not valid JSON", torn_tail=True))
                    if row is None:
                        if damage is None:
                            return
                        previous, number = current, number + 1
                        continue
                _check_version({"format_version": row.format_version}, path)
                yield row
            previous = current
            number += 1


def row_line(row: ResultRow, scrub: Any = None) -> str:
    """A row as its ``results.jsonl`` line (no newline), secrets scrubbed when ``scrub`` is given."""
    # The model's serializer itself, as model_dump_json calls it with its defaults: its wrapper
    # was a fifth of a row's JSON (timeit, one live call's row: 6.5 -> 5.2 us; issue 25).
    text = ResultRow.__pydantic_serializer__.to_json(row).decode()
    return scrub(text) if scrub is not None else text


def _explain_bad_row(line: str, path: Path, number: int, torn: bool) -> ResultRow | None:
    """A line pydantic rejected: None for a torn last line, else the most useful error."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        if torn:
            return None
        raise RunFolderError(f"{path}:{number}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):  # e.g. one line of a row spread over several: '"refunds"'
        raise RunFolderError(f"{path}:{number}: not a result row (a JSON {type(data).__name__}, not an object)")
    _check_version(data, path)  # a row of another format version says so, not which field failed
    try:
        return ResultRow.model_validate(data)
    except ValidationError as exc:
        raise RunFolderError(f"{path}:{number}: not a result row ({exc})") from exc


class ResultWriter:
    """Appends rows and flushes each one: a finished row survives kill -9.

    ``scrub`` (the cassette layer's secret scrubber) runs over every row, so a key that a task
    quoted in its input or a model echoed in its output never reaches the run folder.
    """

    def __init__(self, path: Path, scrub: Any = None) -> None:
        self._handle = path.open("a", encoding="utf-8")
        self._scrub = scrub

    def write(self, row: ResultRow) -> None:
        # One row, straight to the file: through write_lines' list and join it cost 3 k more
        # instructions a row (callgrind; issue 25, bench/live_overhead.py).
        self._handle.write(row_line(row, self._scrub) + "\n")
        self._handle.flush()

    def write_lines(self, lines: list[str]) -> None:
        """Append rows already serialized (and scrubbed) by :func:`row_line`, e.g. in worker processes."""
        if lines:
            self._handle.write("".join(line + "\n" for line in lines))
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()


ROW_COLUMNS = [
    "run_id", "suite", "variant", "task_id", "epoch", "tags", "output", "error_kind", "error",
    "grader", "grader_name", "grader_params", "value", "passed", "reason", "grader_error",
    "model_calls", "input_tokens", "output_tokens", "cost_usd", "latency_s",
]


def flatten_row(row: ResultRow) -> Iterable[dict[str, Any]]:
    """One record per grader score (one for a row without scores): the rows of `load_run`."""
    base = {
        "run_id": row.run_id,
        "suite": row.suite,
        "variant": row.variant,
        "task_id": row.task_id,
        "epoch": row.epoch,
        "tags": row.tags,
        "output": row.output,
        "error_kind": row.error.kind if row.error else None,
        "error": row.error.message if row.error else None,
        "model_calls": row.usage.model_calls,
        "input_tokens": row.usage.input_tokens,
        "output_tokens": row.usage.output_tokens,
        "cost_usd": row.usage.cost_usd,
        "latency_s": row.latency_s,
    }
    if not row.scores:
        yield base | {"grader": None, "grader_name": None, "grader_params": None, "value": None,
                      "passed": None, "reason": None, "grader_error": None}
        return
    for score in row.scores:
        yield base | {
            "grader": score.grader,
            "grader_name": score.name,
            "grader_params": score.params,
            "value": score.value,
            "passed": score.passed,
            "reason": score.reason,
            "grader_error": score.error.message if score.error else None,
        }


def load_run(path: str | Path) -> Any:
    """A run as a pandas DataFrame, one row per (task, variant, epoch, grader).

    A row with no scores (a task error) still appears once, with ``grader`` empty, so errors
    are counted rather than silently dropped. Columns: see ``ROW_COLUMNS``.
    """
    import pandas as pd

    folder = RunFolder.open(path)
    records = [flat for row in folder.rows() for flat in flatten_row(row)]
    return pd.DataFrame.from_records(records, columns=ROW_COLUMNS)


def latest_runs(runs_dir: str | Path) -> dict[str, RunFolder]:
    """The newest run of every suite under ``runs_dir`` (by ``created_at``, as :func:`latest_run`)."""
    best: dict[str, tuple[tuple[str, str], RunFolder]] = {}
    root = Path(runs_dir)
    for path in root.glob("*/run.json") if root.is_dir() else ():
        try:
            manifest = RunFolder(path.parent).manifest()
        except (OSError, ValueError):
            continue
        key = (manifest.created_at, manifest.run_id)
        if manifest.suite not in best or key > best[manifest.suite][0]:
            best[manifest.suite] = (key, RunFolder(path.parent))
    return {suite: folder for suite, (_, folder) in best.items()}


def latest_run(runs_dir: str | Path, suite: str | None = None, variants: Iterable[str] = ()) -> RunFolder | None:
    """The newest run under ``runs_dir`` by ``created_at`` in its manifest (not by folder name).

    A folder copied or renamed later does not become "latest" by sorting last. ``suite``: only
    runs of that suite; ``variants``: only runs that ran all of them. Folders without a readable
    ``run.json`` are skipped.
    """
    root = Path(runs_dir)
    wanted = set(variants)
    best: tuple[str, str] | None = None
    found: RunFolder | None = None
    for path in root.glob("*/run.json") if root.is_dir() else ():
        try:
            manifest = RunFolder(path.parent).manifest()
        except (OSError, ValueError):
            continue
        if suite is not None and manifest.suite != suite:
            continue
        if wanted and not wanted <= {v.name for v in manifest.variants}:
            continue
        key = (manifest.created_at, manifest.run_id)
        if best is None or key > best:
            best, found = key, RunFolder(path.parent)
    return found

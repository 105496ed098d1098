"""Datasets: :class:`Task` records loaded from JSONL (``jsonlines``) or CSV (the ``csv`` module).

Loading validates every line and reports *all* bad lines in one :class:`DatasetError`, each
naming file, line and field, so a user fixes a dataset in one pass instead of one error at a
time. Files are streamed: a 100,000-line JSONL file never sits in memory as text.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jsonlines
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.core.conversation import UserSpec
from harness.core.run_settings import check_settings

__all__ = ["Task", "ChatMessage", "Dataset", "DatasetError", "DatasetProblem", "load_dataset"]


class ChatMessage(BaseModel):
    """One turn of a multi-turn task input."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: Any


class Task(BaseModel):
    """One case of a dataset.

    ``input`` is a string, a list of chat messages (multi-turn) or structured data (a dict).
    ``expected`` holds whatever the graders compare with (an answer, or a dict of expected
    route, handoffs, tool calls, facts…). ``tags`` select splits (``dev``, ``test``). ``user``
    makes the task a conversation with a simulated customer (:mod:`harness.core.conversation`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    input: str | list[ChatMessage] | dict[str, Any]
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    user: UserSpec | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_string(cls, value: Any) -> Any:
        # Integer ids are common in hand-written files; keep them, as text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def content_sha256(self) -> str:
        """What the task asks and expects, as a short fingerprint (``run.json`` ``task_hashes``).

        The first 16 hex digits of sha256 over the canonical JSON of ``input`` and ``expected``:
        a baseline run whose task has another fingerprint under the same id answered another question.
        """
        text = _CANONICAL_JSON.encode({"input": self.input if isinstance(self.input, str | dict) else
                                       [m.model_dump(mode="json") if isinstance(m, BaseModel) else m
                                        for m in self.input],
                                       "expected": self.expected})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


#: ``json.dumps(value, sort_keys=True, default=str)`` as one encoder: ``dumps`` with arguments
#: builds a new encoder per call, and a run hashes every task at its start (2.6 -> 1.7 us a
#: task, timeit; issue 25). The text, and so every task hash, is the same.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, default=str)


@dataclass(frozen=True)
class DatasetProblem:
    line: int
    field: str
    message: str


class DatasetError(ValueError):
    """Every problem found in one dataset file, each with its line number and field."""

    def __init__(self, path: Path, problems: Sequence[DatasetProblem], shown: int = 50) -> None:
        self.path = path
        self.problems = list(problems)
        lines = [f"{path}:{p.line}: field '{p.field}': {p.message}" if p.line else f"{path}: {p.message}"
                 for p in self.problems[:shown]]
        more = len(self.problems) - shown
        if more > 0:
            lines.append(f"... and {more} more problems")
        head = f"{len(self.problems)} problem(s) in dataset {path}:"
        super().__init__("\n".join([head, *lines]))


_INPUT_SHAPES = {"str", "list[ChatMessage]", "dict[str,any]"}
_INPUT_HELP = "must be a string, a list of chat messages ({role, content}) or a JSON object"


def _problems(line: int, exc: ValidationError) -> list[DatasetProblem]:
    """One problem per field; the three failed shapes of ``input`` collapse into one message."""
    problems: dict[str, DatasetProblem] = {}
    for error in exc.errors():
        loc = list(error["loc"])
        if loc[:1] == ["input"] and len(loc) > 1 and loc[1] in _INPUT_SHAPES:
            if len(loc) == 2:
                problems.setdefault("input", DatasetProblem(line, "input", _INPUT_HELP))
                continue
            del loc[1]  # input.list[ChatMessage].0.role -> input.0.role
        field = ".".join(str(part) for part in loc) or "<line>"
        problems.setdefault(field, DatasetProblem(line, field, error["msg"]))
    if "input" in problems and len(problems) > 1 and any(k.startswith("input.") for k in problems):
        del problems["input"]  # a nested message error says more than the shape summary
    return list(problems.values())


def _validate(raw: Any, line: int) -> tuple[Task | None, list[DatasetProblem]]:
    if not isinstance(raw, dict):
        return None, [DatasetProblem(line, "<line>", f"expected a JSON object, got {type(raw).__name__}")]
    not_json = [DatasetProblem(line, k, f"not valid JSON: {v.text[:40]!r}") for k, v in raw.items() if isinstance(v, _NotJson)]
    if not_json:
        return None, not_json
    try:
        return Task.model_validate(raw), []
    except ValidationError as exc:
        return None, _problems(line, exc)


class _Row(NamedTuple):
    """One record of a file as a reader hands it over: its value, or why it has none.

    ``settled`` names fields already reported once for the whole file (a CSV column missing
    from the header), so each row does not report them again.

    A named tuple, not a frozen dataclass: one is made per task whenever a dataset is read, and
    the dataclass's field-by-field ``object.__setattr__`` made it 8.3 k instructions against 3.9 k
    (callgrind; issue 25).
    """

    line: int
    value: Any = None
    problems: tuple[DatasetProblem, ...] = ()
    settled: frozenset[str] = frozenset()


class _NumberedLines:
    """Feeds jsonlines one line at a time and remembers which line it gave last."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.number = 0

    def __iter__(self) -> Iterator[bytes]:
        for number, line in enumerate(self._handle, start=1):
            self.number = number
            yield line


def _json_problem(exc: BaseException) -> str:
    """The parser's complaint without its own "line 1 column 2" (it counts within one line)."""
    cause = exc.__cause__ or exc
    if isinstance(cause, json.JSONDecodeError):
        return f"not valid JSON: {cause.msg} (column {cause.colno})"
    if isinstance(cause, UnicodeDecodeError):
        return f"not UTF-8 text (byte {cause.start})"
    return f"not valid JSON: {cause}"


def _jsonl_rows(path: Path) -> Iterator[_Row]:
    """Every non-blank line, parsed."""
    with path.open("rb") as handle:
        lines = _NumberedLines(handle)
        reader = jsonlines.Reader(lines)
        while True:
            try:
                value = reader.read(skip_empty=True)
            except EOFError:
                return
            except jsonlines.InvalidLineError as exc:
                yield _Row(exc.lineno, problems=(DatasetProblem(exc.lineno, "<line>", _json_problem(exc)),))
                continue
            yield _Row(lines.number, value)


#: CSV columns: the Task fields. ``input``/``expected``/``metadata``/``tags`` cells may hold JSON.
_COLUMNS = ("id", "input", "expected", "metadata", "tags", "user")
_REQUIRED = ("id", "input")
_JSON_CELLS = {"input", "expected", "metadata", "tags", "user"}


def _csv_rows(path: Path) -> Iterator[_Row]:
    """Records of a CSV file with a header row, read by the standard ``csv`` module in strict mode.

    Line numbers count the header as line 1; a record whose quoted cell spans lines is
    reported at its first line. A header without a required column is one problem on line 1,
    not one per row. A row with more or fewer cells than the header is a problem (usually an
    unquoted comma), never silently padded. An empty cell means "not given".
    """
    with path.open("rb") as handle:
        lines = _TextLines(handle)
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            yield _Row(1, problems=(DatasetProblem(1, "<header>", f"not valid CSV: {exc}"),))
            return
        if header is None:
            yield _Row(1, problems=(DatasetProblem(1, "<header>", "empty file: the first line must name the "
                                                                   "columns, at least id and input"),))
            return
        columns = [name.strip() for name in header]
        header_problems = [*lines.problems(1, reader.line_num), *_header_problems(columns)]
        yield _Row(1, problems=tuple(header_problems))
        settled = frozenset(p.field for p in header_problems)
        previous = reader.line_num
        while True:
            line = previous + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield _Row(line, problems=(DatasetProblem(line, "<line>", f"not valid CSV: {exc}"),))
                previous = reader.line_num
                continue
            previous = reader.line_num
            yield _csv_row(line, columns, cells, settled, lines.problems(line, previous))


class _TextLines:
    """A binary file's lines as text, one at a time; a line that is not UTF-8 is remembered, not fatal."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._undecodable: dict[int, int] = {}

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self._handle, start=1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._undecodable[number] = exc.start
                yield raw.decode("utf-8", "replace")

    def problems(self, first: int, last: int) -> list[DatasetProblem]:
        """A problem for each line in ``first..last`` that was not UTF-8."""
        return [DatasetProblem(n, "<line>", f"not UTF-8 text (at byte {self._undecodable[n] + 1} of the line)")
                for n in range(first, last + 1) if n in self._undecodable]


def _csv_row(line: int, columns: list[str], cells: list[str], settled: frozenset[str],
             problems: list[DatasetProblem]) -> _Row:
    if problems:
        return _Row(line, problems=tuple(problems))
    if not cells:
        return _Row(line)  # a blank line
    if len(cells) != len(columns):
        return _Row(line, problems=(DatasetProblem(line, "<line>", _width_problem(len(cells), len(columns))),))
    empty = tuple(DatasetProblem(line, name, f"empty cell: every row needs its {name}")
                  for name, cell in zip(columns, cells, strict=True) if name in _REQUIRED and not cell.strip())
    if empty:
        return _Row(line, problems=empty)
    return _Row(line, _csv_record(columns, cells, settled), settled=settled)


def _header_problems(columns: list[str]) -> Iterator[DatasetProblem]:
    for name in _REQUIRED:
        if name not in columns:
            yield DatasetProblem(1, name, f"the header has no '{name}' column (columns: {', '.join(columns)})")
    seen: set[str] = set()
    for name in columns:
        if name not in _COLUMNS:
            yield DatasetProblem(1, name or "<header>", f"unknown column '{name}' (a dataset's columns are "
                                                       f"{', '.join(_COLUMNS)})")
        elif name in seen:
            yield DatasetProblem(1, name, f"column '{name}' appears twice in the header")
        seen.add(name)


def _width_problem(cells: int, columns: int) -> str:
    if cells > columns:
        return (f"{cells} cells, but the header has {columns} columns "
                "(a cell with a comma in it must be quoted: \"a, b\")")
    return f"{cells} cell{'s' if cells != 1 else ''}, but the header has {columns} columns"


def _csv_record(columns: list[str], cells: list[str], settled: frozenset[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, cell in zip(columns, cells, strict=True):
        if name in settled or cell == "":
            continue
        record[name] = _csv_cell(name, cell)
    return record


def _csv_cell(column: str, cell: str) -> Any:
    if column in _JSON_CELLS and cell[:1] in ("[", "{"):
        try:
            return json.loads(cell)
        except ValueError:
            if column in {"metadata", "tags", "user"}:
                return _NotJson(cell)
            return cell  # text that happens to start with a bracket: "[urgent] where is my order?"
    if column == "tags":
        return [t.strip() for t in cell.split(",") if t.strip()]
    return cell


@dataclass(frozen=True)
class _NotJson:
    """A ``metadata``/``tags`` cell that looked like JSON but did not parse."""

    text: str


def _rows(path: Path) -> Iterator[_Row]:
    return _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)


def iter_tasks(path: Path) -> Iterator[Task]:
    """Stream valid tasks; raise one :class:`DatasetError` at the end listing every problem.

    Whatever goes wrong (a missing file, bad bytes, bad CSV or JSON, a bad field) is a
    :class:`DatasetError` naming the file, line and field; no parser's exception escapes.
    """
    problems: list[DatasetProblem] = []
    seen: dict[str, int] = {}
    try:
        for row in _rows(path):
            problems.extend(row.problems)
            if row.value is None:
                continue
            task, found = _validate(row.value, row.line)
            problems.extend(p for p in found if p.field.split(".")[0] not in row.settled)
            if task is None:
                continue
            if task.id in seen:
                problems.append(DatasetProblem(row.line, "id", f"duplicate id '{task.id}' (first on line {seen[task.id]})"))
                continue
            seen[task.id] = row.line
            if not problems:
                yield task
    except OSError as exc:
        raise DatasetError(path, [*problems, DatasetProblem(0, "<file>", f"cannot read it: {exc.strerror or exc}")]) from None
    if problems:
        raise DatasetError(path, problems)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Dataset:
    """A dataset file plus the selection a run makes of it (tags, ids, sample, limit)."""

    path: Path
    tags: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    sample: int | None = None
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        check_settings({"sample": self.sample, "limit": self.limit})

    def select(self, **changes: Any) -> Dataset:
        fields = {k: getattr(self, k) for k in ("path", "tags", "ids", "sample", "seed", "limit")}
        fields.update({k: v for k, v in changes.items() if v is not None})
        for name in ("tags", "ids"):
            fields[name] = tuple(fields[name])
        return Dataset(**fields)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def tasks(self) -> list[Task]:
        """The selected tasks, validated. Sampling is deterministic for a seed."""
        chosen: Iterable[Task] = _filter(iter_tasks(self.path), set(self.tags), set(self.ids))
        if self.sample is not None:
            chosen = _reservoir(chosen, self.sample, self.seed)
        tasks = list(chosen)
        return tasks[: self.limit] if self.limit is not None else tasks

    def digest(self) -> str:
        return file_digest(self.path)


def _filter(tasks: Iterable[Task], tags: set[str], ids: set[str]) -> Iterator[Task]:
    for task in tasks:
        if tags and not tags.intersection(task.tags):
            continue
        if ids and task.id not in ids:
            continue
        yield task


def _reservoir(tasks: Iterable[Task], k: int, seed: int) -> list[Task]:
    """Reservoir sampling: a deterministic sample of k without holding the whole file; file order kept."""
    rng = random.Random(seed)
    kept: list[tuple[int, Task]] = []
    for index, task in enumerate(tasks):
        if index < k:
            kept.append((index, task))
            continue
        slot = rng.randint(0, index)
        if slot < k:
            kept[slot] = (index, task)
    return [task for _, task in sorted(kept, key=lambda pair: pair[0])]


def load_dataset(path: str | Path, **selection: Any) -> list[Task]:
    """Load and validate a JSONL or CSV dataset: ``load_dataset("datasets/triage.jsonl", tags=["dev"])``."""
    return Dataset(Path(path)).select(**selection).tasks()

"""Datasets: :class:`Task` records loaded from JSONL (``jsonlines``) or CSV (``pandas``).

Loading validates every line and reports *all* bad lines in one :class:`DatasetError`, each
naming file, line and field, so a user fixes a dataset in one pass instead of one error at a
time. Files are streamed: a 100,000-line JSONL file never sits in memory as text.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonlines
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    route, handoffs, tool calls, facts…). ``tags`` select splits (``dev``, ``test``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    input: str | list[ChatMessage] | dict[str, Any]
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_string(cls, value: Any) -> Any:
        # Integer ids are common in hand-written files; keep them, as text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


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
        lines = [f"{path}:{p.line}: field '{p.field}': {p.message}" for p in self.problems[:shown]]
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
    try:
        return Task.model_validate(raw), []
    except ValidationError as exc:
        return None, _problems(line, exc)


class _NumberedLines:
    """Feeds jsonlines one line at a time and remembers which line it gave last."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.number = 0

    def __iter__(self) -> Iterator[bytes]:
        for number, line in enumerate(self._handle, start=1):
            self.number = number
            yield line


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line number, parsed value or None, parse error) for each non-blank line."""
    with path.open("rb") as handle:
        lines = _NumberedLines(handle)
        reader = jsonlines.Reader(lines)
        while True:
            try:
                value = reader.read(skip_empty=True)
            except EOFError:
                return
            except jsonlines.InvalidLineError as exc:
                yield exc.lineno, None, f"not valid JSON: {exc.__cause__ or exc}"
                continue
            yield lines.number, value, None


def _csv_rows(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """CSV columns map to Task fields; ``input``/``expected``/``metadata``/``tags`` cells may hold JSON.

    An empty optional cell means "not given". Line numbers count the header as line 1.
    """
    import pandas as pd

    line = 1
    for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=10_000):
        for record in chunk.to_dict(orient="records"):
            line += 1
            row = {str(k): _csv_cell(str(k), v) for k, v in record.items() if v != "" or str(k) in _REQUIRED}
            yield line, row, None


_REQUIRED = {"id", "input"}


def _csv_cell(column: str, cell: str) -> Any:
    if column in {"expected", "metadata", "tags", "input"} and cell[:1] in ("[", "{"):
        try:
            return json.loads(cell)
        except ValueError:
            return cell
    if column == "tags":
        return [t.strip() for t in cell.split(",") if t.strip()]
    return cell


def iter_tasks(path: Path) -> Iterator[Task]:
    """Stream valid tasks; raise one :class:`DatasetError` at the end listing every problem."""
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)
    problems: list[DatasetProblem] = []
    seen: dict[str, int] = {}
    for line, raw, parse_error in rows:
        if parse_error is not None:
            problems.append(DatasetProblem(line, "<line>", parse_error))
            continue
        task, found = _validate(raw, line)
        problems.extend(found)
        if task is None:
            continue
        if task.id in seen:
            problems.append(DatasetProblem(line, "id", f"duplicate id '{task.id}' (first on line {seen[task.id]})"))
            continue
        seen[task.id] = line
        if not problems:
            yield task
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
        chosen = _filter(iter_tasks(self.path), set(self.tags), set(self.ids))
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

"""A run's ``results.jsonl`` as Arrow columns: the one read path of gate, report, compare and the viewer.

Analysis needs a few fields of each row (variant, task, epoch, errors, scores, usage, latency),
never its trajectory, which is most of a row's bytes. :func:`decode_lines` parses just those
fields with msgspec, which skips the rest of a line without building Python objects for it, and
keeps each row's byte ``offset`` and ``length`` so a caller that does want whole rows (the HTML
report's sample, the viewer's drill-down) reads exactly those lines again.

A line msgspec rejects is handed to the harness's own row model (pydantic's
:class:`~harness.core.results.ResultRow`) before it is called damaged, so both read paths accept
the same lines; the only difference is that a row whose *trajectory alone* is malformed is read
here for its scores (analysis never reads trajectories).

It is the run folder's columnar form (:mod:`harness.core.sidecar` caches it beside the run);
what an attempt's scores *mean* (pass, fail, error) is decided in :mod:`harness.analysis.attempt`.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from harness.core.results import FORMAT_VERSION, DamagedLine, ResultRow, RunFolderError

__all__ = ["ROW_SCHEMA", "SCORE_TYPE", "ColumnBuilder", "decode_file", "score_arrays",
           "row_record"]

SCORE_TYPE = pa.struct([
    ("grader", pa.string()), ("name", pa.string()), ("params", pa.string()), ("value", pa.float64()),
    ("passed", pa.bool_()), ("reason", pa.string()), ("error_kind", pa.string()), ("error_type", pa.string()),
    ("error", pa.string()),
])
ROW_SCHEMA = pa.schema([
    ("line", pa.int64()), ("offset", pa.int64()), ("length", pa.int64()),
    ("run_id", pa.string()), ("suite", pa.string()), ("variant", pa.string()), ("task_id", pa.string()),
    ("epoch", pa.int64()), ("tags", pa.list_(pa.string())),
    #: the output as JSON text (a string output as itself, like ``results.csv`` has always held it)
    ("output", pa.string()),
    ("error_kind", pa.string()), ("error_type", pa.string()), ("error", pa.string()),
    ("model_calls", pa.int64()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()), ("unpriced_calls", pa.int64()), ("latency_s", pa.float64()),
    ("scores", pa.list_(SCORE_TYPE)),
])
#: The most rows of an Arrow batch while decoding: bounds the Python objects alive at once (about 50 MB).
BATCH_ROWS = 50_000


# gc=False: these structs hold only strings, numbers and lists of each other, never a cycle, so
# the collector need not track them (with _gc_paused, decode_file over bench/analysis_scale.py's
# 100k-row run went from 2.6-2.9 to 2.1-2.3 s of CPU; with decode_lines and pieces, 1.7-1.9 s)
class _Error(msgspec.Struct, gc=False):
    type: str
    message: str
    kind: str = "task"


class _Score(msgspec.Struct, gc=False):
    grader: str
    name: str
    params: msgspec.Raw = msgspec.Raw(b"{}")
    value: float | None = None
    passed: bool | None = None
    reason: str = ""
    error: _Error | None = None


class _Usage(msgspec.Struct, gc=False):
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0


class _Row(msgspec.Struct, gc=False):
    """The fields analysis reads; every other field of a line (the trajectory) is skipped unparsed."""

    run_id: str
    suite: str
    variant: str
    task_id: str
    format_version: int = FORMAT_VERSION
    epoch: int = 1
    tags: list[str] = msgspec.field(default_factory=list)
    output: msgspec.Raw = msgspec.Raw(b"null")
    error: _Error | None = None
    scores: list[_Score] = msgspec.field(default_factory=list)
    usage: _Usage = msgspec.field(default_factory=_Usage)
    latency_s: float = 0.0


# strict=False: the lax coercions pydantic's row model also makes ("1" for an int)
_DECODER = msgspec.json.Decoder(_Row, strict=False)


def _json_text(raw: bytes) -> str | None:
    """A raw JSON value as ``results.csv`` holds it: a string as itself, anything else as JSON text."""
    if raw == b"null":
        return None
    if raw[:1] == b'"':
        return str(json.loads(raw))
    return raw.decode("utf-8")


def _text_of(value: Any) -> str | None:
    """The same as :func:`_json_text`, for a value pydantic already parsed."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def row_record(row: ResultRow) -> tuple[Any, ...]:
    """A validated row as the record :class:`ColumnBuilder` takes (lines msgspec rejected)."""
    error = row.error
    scores = [(s.grader, s.name, _text_of(s.params), s.value, s.passed, s.reason, s.error.kind if s.error else None,
               s.error.type if s.error else None, s.error.message if s.error else None) for s in row.scores]
    return (row.run_id, row.suite, row.variant, row.task_id, row.epoch, list(row.tags), _text_of(row.output),
            error.kind if error else None, error.type if error else None, error.message if error else None,
            row.usage.model_calls, row.usage.input_tokens, row.usage.output_tokens, row.usage.cost_usd,
            row.usage.unpriced_calls, row.latency_s, scores)


def _fast_record(row: _Row) -> tuple[Any, ...]:
    error, usage = row.error, row.usage
    scores = [(s.grader, s.name, bytes(s.params).decode("utf-8"), s.value, s.passed, s.reason,
               s.error.kind if s.error else None, s.error.type if s.error else None,
               s.error.message if s.error else None) for s in row.scores]
    return (row.run_id, row.suite, row.variant, row.task_id, row.epoch, row.tags, _json_text(bytes(row.output)),
            error.kind if error else None, error.type if error else None, error.message if error else None,
            usage.model_calls, usage.input_tokens, usage.output_tokens, usage.cost_usd, usage.unpriced_calls,
            row.latency_s, scores)


_RECORD_FIELDS = [f.name for f in ROW_SCHEMA][3:]


@dataclass
class ColumnBuilder:
    """Records in, Arrow record batches out (``BATCH_ROWS`` at a time)."""

    positions: list[tuple[int, int, int]] = field(default_factory=list)
    records: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, line: int, offset: int, length: int, record: tuple[Any, ...]) -> None:
        self.positions.append((line, offset, length))
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def batch(self) -> pa.RecordBatch:
        """The records so far as one batch; the builder is empty again afterwards."""
        columns: list[Any] = [list(c) for c in zip(*self.positions, strict=True)] or [[], [], []]
        values: list[Any] = list(zip(*self.records, strict=True)) or [[] for _ in _RECORD_FIELDS]
        columns.extend(list(v) for v in values)
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, ROW_SCHEMA, strict=True)]
        self.positions, self.records = [], []
        return pa.RecordBatch.from_arrays(arrays, schema=ROW_SCHEMA)


def _slow_record(text: bytes, path: Path, number: int, last: bool, tolerate: bool) -> tuple[Any, ...] | None:
    """A line msgspec rejected, judged by the row model exactly as :func:`~harness.core.results.read_rows` does."""
    from harness.core.results import _check_version, _explain_bad_row

    line = text.decode("utf-8", errors="replace")
    try:
        row = ResultRow.model_validate_json(line)
    except ValidationError:
        parsed = _explain_bad_row(line, path, number, torn=last and tolerate)
        if parsed is None:
            return None
        row = parsed
    _check_version({"format_version": row.format_version}, path)
    return row_record(row)


#: Bytes read at a time: a 1M-row file is never in memory whole.
CHUNK_BYTES = 32 << 20


_BLANK = b" \t\r\x0b\x0c"
_OPEN, _CLOSE = ord("{"), ord("}")


def _newlines(data: bytearray, stop: int) -> np.ndarray:
    """The offset of every newline in ``data[:stop]``."""
    found: list[int] = []
    find = data.find
    at = find(b"\n", 0, stop)
    while at >= 0:
        found.append(at)
        at = find(b"\n", at + 1, stop)
    return np.array(found, dtype=np.int64)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: decoding allocates a few objects per row, none in a
    cycle, and the collector's passes over them cost more than msgspec's decoding (decode 0.41
    against 1.00 s, records 0.28 against 0.68 s for 100k rows measured apart). Never held across
    a ``yield``: the caller's code runs with the collector as it left it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class _Piece:
    """Whole lines of a chunk: ``data[starts[i]:ends[i]]`` is line ``first_line + i`` (without its
    newline), at byte ``base + starts[i]`` of the file."""

    data: bytearray
    base: int
    first_line: int
    starts: np.ndarray
    ends: np.ndarray


def _fast_rows(piece: _Piece) -> list[_Row] | None:
    """Every line of ``piece`` decoded in one call, or None when any line needs the per-line path.

    One ``decode_lines`` call instead of one ``decode`` per line: 0.33 against 0.73 s of CPU for
    100k rows (bench/analysis_scale.py's cold gate). It is used only where each line is provably
    one row: every line starts with ``{`` and ends with ``}`` (so none is blank and no object
    spans two lines: after a ``}`` inside an object only ``,``, ``}`` or ``]`` may follow) and
    there are as many rows as lines (so no line holds two). Anything else (a bad line, an old
    format version, a blank or CRLF line) goes line by line, as it always did."""
    data, starts, ends = piece.data, piece.starts, piece.ends
    if not len(ends):
        return []
    raw = np.frombuffer(data, dtype=np.uint8)
    if not ((ends > starts).all() and (raw[starts] == _OPEN).all() and (raw[ends - 1] == _CLOSE).all()):
        return None
    try:
        rows: list[_Row] = _DECODER.decode_lines(memoryview(data)[int(starts[0]):int(ends[-1])])
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if len(rows) != len(ends) or any(row.format_version != FORMAT_VERSION for row in rows):
        return None
    return rows


def _errors(errors: list[_Error | None]) -> list[pa.Array]:
    """The ``error_kind``, ``error_type`` and ``error`` columns of some errors (None: no error)."""
    return [pa.array([e and e.kind for e in errors], pa.string()),
            pa.array([e and e.type for e in errors], pa.string()),
            pa.array([e and e.message for e in errors], pa.string())]


def _scores_column(rows: list[_Row]) -> pa.ListArray:
    scores = [s for row in rows for s in row.scores]
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum([len(row.scores) for row in rows], out=offsets[1:])
    flat = pa.StructArray.from_arrays([
        pa.array([s.grader for s in scores], pa.string()), pa.array([s.name for s in scores], pa.string()),
        pa.array([bytes(s.params).decode("utf-8") for s in scores], pa.string()),
        pa.array([s.value for s in scores], pa.float64()), pa.array([s.passed for s in scores], pa.bool_()),
        pa.array([s.reason for s in scores], pa.string()), *_errors([s.error for s in scores]),
    ], fields=list(SCORE_TYPE))
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


def _rows_batch(rows: list[_Row], lines: range, starts: np.ndarray, ends: np.ndarray, base: int) -> pa.RecordBatch:
    """Decoded rows straight into Arrow, a column at a time: the same batch :class:`ColumnBuilder`
    makes of their records, without a tuple per row and a score tuple per score for ``pa.array``
    to take apart again (records and batch 0.64 against 0.23 s of CPU for 50k rows, the cold
    gate of bench/analysis_scale.py's 100k-row run)."""
    usages = [row.usage for row in rows]
    arrays = [
        pa.array(np.arange(lines.start, lines.stop, dtype=np.int64)), pa.array(starts + base),
        pa.array(ends - starts),
        pa.array([row.run_id for row in rows], pa.string()), pa.array([row.suite for row in rows], pa.string()),
        pa.array([row.variant for row in rows], pa.string()), pa.array([row.task_id for row in rows], pa.string()),
        pa.array([row.epoch for row in rows], pa.int64()), pa.array([row.tags for row in rows], pa.list_(pa.string())),
        pa.array([_json_text(bytes(row.output)) for row in rows], pa.string()),
        *_errors([row.error for row in rows]),
        pa.array([u.model_calls for u in usages], pa.int64()), pa.array([u.input_tokens for u in usages], pa.int64()),
        pa.array([u.output_tokens for u in usages], pa.int64()), pa.array([u.cost_usd for u in usages], pa.float64()),
        pa.array([u.unpriced_calls for u in usages], pa.int64()),
        pa.array([row.latency_s for row in rows], pa.float64()), _scores_column(rows),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=ROW_SCHEMA)


def _piece_batch(piece: _Piece, path: Path, file_size: int, damage: list[DamagedLine] | None,
                 tolerate: bool) -> pa.RecordBatch:
    """The rows of ``piece`` as one Arrow batch: decoded at once where every line is a row,
    line by line (damage recorded) otherwise."""
    rows = _fast_rows(piece)
    lines = range(piece.first_line, piece.first_line + len(piece.ends))
    if rows is not None:
        return _rows_batch(rows, lines, piece.starts, piece.ends, piece.base)
    builder = ColumnBuilder()
    view, data = memoryview(piece.data), piece.data
    for line, start, end in zip(lines, piece.starts.tolist(), piece.ends.tolist(), strict=True):
        if end == start or (data[start] in _BLANK and data[start:end].isspace()):
            continue
        record = _record(view[start:end], path, line, piece.base + end + 1 >= file_size, damage, tolerate)
        if record is not None:
            builder.add(line, piece.base + start, end - start, record)
    return builder.batch()


def _line_bounds(chunk: bytearray, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the lines in ``chunk[:stop]``, newlines left out; the last may lack its newline."""
    ends = _newlines(chunk, stop)
    if not ends.size or ends[-1] != stop - 1:
        ends = np.append(ends, stop)  # the file's last line, without a newline
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    return starts, ends


def decode_file(path: Path, *, start: int = 0, first_line: int = 1, size: int | None = None,
                damage: list[DamagedLine] | None = None, tolerate_torn_tail: bool = True,
                tally: dict[str, int] | None = None) -> Iterator[pa.RecordBatch]:
    """Decode the rows of ``path`` from byte ``start`` (line ``first_line``) to ``size`` into Arrow batches.

    Each batch is a piece of the file: at most :data:`BATCH_ROWS` rows, and never more than one
    read of :data:`CHUNK_BYTES` holds.

    ``tally["lines"]`` (when given) ends as the count of newline-ended lines up to where it stopped.

    Bad lines go to ``damage`` as :func:`~harness.core.results.read_rows` records them (without
    ``damage`` the first one raises :class:`~harness.core.results.RunFolderError`).
    """
    file_size = path.stat().st_size  # "last" means nothing follows in the file, not in the part read
    size = file_size if size is None else size
    line = first_line
    # one buffer for the whole file, read into again and again: a new bytes object per chunk (and
    # its copies) had the kernel fault in and zero three times the file's size (173k page faults
    # and 0.4-0.8 s of system time for the 100k-row run, 7.4 s of a cold 1M-row gate)
    buffer = bytearray(max(1, min(CHUNK_BYTES, size - start)))
    with path.open("rb") as handle:
        handle.seek(start)
        base, kept = start, 0  # kept: the start of a line the last read cut, at the buffer's front
        while base < size:
            if kept == len(buffer):  # one line longer than the buffer: a larger one (a new object: a
                buffer = buffer + bytes(len(buffer))  # view of the old one may live on in a traceback)
            with memoryview(buffer) as view:
                got = handle.readinto(view[kept:kept + min(len(buffer) - kept, size - base - kept)])
            end = kept + got
            at_end = not got or base + end >= size
            cut = end if at_end else buffer.rfind(b"\n", 0, end) + 1
            if cut == 0:
                kept = end
                continue
            starts, ends = _line_bounds(buffer, cut)
            for at in range(0, len(ends), BATCH_ROWS):  # at most BATCH_ROWS lines a piece
                piece = _Piece(buffer, base, line + at, starts[at:at + BATCH_ROWS], ends[at:at + BATCH_ROWS])
                # each piece goes to Arrow before the collector is back on: Python rows held
                # across it made it trace them again and again (0.8 of 2.5 s for 100k rows)
                with _gc_paused():
                    batch = _piece_batch(piece, path, file_size, damage, tolerate_torn_tail)
                if batch.num_rows:
                    # each piece as it is, not concatenated with the next ones into a batch of
                    # BATCH_ROWS: the copy cost 0.12 of the 0.94 s of CPU decode_file took over
                    # bench/analysis_scale.py's 100k-row run (a cold gate's critical path)
                    yield batch
            line += len(ends) - int(ends[-1] == cut)  # the newlines in buffer[:cut]: the last line may lack one
            base += cut
            if at_end:
                break
            buffer[:end - cut] = buffer[cut:end]
            kept = end - cut
    if tally is not None:
        tally["lines"] = line - 1  # newlines up to where reading stopped


def _record(text: memoryview, path: Path, number: int, last: bool, damage: list[DamagedLine] | None,
            tolerate: bool) -> tuple[Any, ...] | None:
    """One line as a record, or None (recorded in ``damage``) when it is not a row."""
    try:
        row = _DECODER.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        try:
            record = _slow_record(bytes(text), path, number, last, tolerate)
        except RunFolderError as exc:
            if damage is None:
                raise
            damage.append(DamagedLine(path, number, str(exc).split(": ", 2)[-1][:300], torn_tail=last))
            return None
        if record is None and damage is not None:
            damage.append(DamagedLine(path, number, "not valid JSON", torn_tail=True))
        return record
    if row.format_version != FORMAT_VERSION:
        from harness.core.results import _check_version

        _check_version({"format_version": row.format_version}, path)
    return _fast_record(row)


def empty_table() -> pa.Table:
    return ROW_SCHEMA.empty_table()


def score_arrays(table: pa.Table) -> tuple[np.ndarray, pa.StructArray]:
    """(parent row index of each score, the scores flattened)."""
    column = table.column("scores")
    if not table.num_rows:
        scores = pa.array([], pa.list_(SCORE_TYPE))
    else:  # one chunk as it is: combine_chunks copies even that
        scores = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    parents = pc.list_parent_indices(scores).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(scores)
    return parents, flat

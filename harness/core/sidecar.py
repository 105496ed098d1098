"""The columnar sidecar: ``<run>/.derived/results.parquet``, a cache of :mod:`harness.core.columns`.

``results.jsonl`` stays the source of truth. The first reader of a run decodes it into Arrow
columns and keeps them beside it as Parquet; later readers (``harness gate`` in CI, the report,
the viewer) read only the columns they need from there. Parquet is an open, versioned format,
and the file's own metadata says which sidecar layout (:data:`SIDECAR_VERSION`) and which bytes
of ``results.jsonl`` it holds, so a reader never trusts a sidecar it cannot check:

* **valid**: the sidecar covers the same number of bytes (every complete line) and the
  *fingerprint* of those bytes matches: SHA-256 over 64 KiB windows at the start, the end and
  14 evenly spaced places in between (about 1 MB read whatever the run's size). Not the mtime:
  a copy, a checkout or a torn last line changes it while the rows stay the same. Not a hash of
  the whole file: that reads every byte on every gate (``bench/analysis_scale.py`` prints its
  cost). What it could miss is a same-length edit inside the file that leaves all 16 windows
  alone; the harness never writes that way (it appends, or rewrites atomically, which moves
  bytes), and ``load_run_data(run, cache=False)`` reads ``results.jsonl`` alone;
* **grown**: the file is longer and its first ``covered`` bytes still have the stored
  fingerprint (rows were appended, the run goes on): only the new bytes are decoded;
* anything else (rewritten by a resume, another layout version, unreadable): rebuilt whole.

A line without its newline (a row still being written, or torn by a kill) is never cached: it
is decoded on every read, so its verdict (torn or a row) is always the current one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from harness.core.columns import ROW_SCHEMA, decode_file
from harness.core.results import DamagedLine, RunFolder

__all__ = ["SIDECAR_VERSION", "sidecar_path", "fingerprint", "ColumnRead", "read_columns", "refresh", "iter_batches"]

log = logging.getLogger(__name__)

#: The layout of the sidecar's columns; another value is rebuilt, never read.
SIDECAR_VERSION = 1
_META_KEY = b"harness.sidecar"
_WINDOW = 64 << 10
_WINDOWS = 16
#: The fewest rows a row group of the sidecar holds (a decoded piece of more is one group). The last
#: group is written after the last row is decoded, on a cold gate's critical path: groups of 50k rows
#: left 0.08 s of writing there, pieces of about 14k rows (32 MB of 2.2 KB rows) 0.01 s, and the
#: analysis columns read back in the same 0.03 s (bench/analysis_scale.py's 100k-row run).
ROW_GROUP_ROWS = 12_500


def sidecar_path(run: Path) -> Path:
    return RunFolder(run).sidecar_path


def fingerprint(path: Path, covered: int) -> str:
    """SHA-256 of 64 KiB windows spread over the first ``covered`` bytes of ``path`` (see the module doc)."""
    digest = hashlib.sha256(str(covered).encode())
    starts = sorted({min(max(0, covered - _WINDOW), covered * i // (_WINDOWS - 1)) for i in range(_WINDOWS)})
    with path.open("rb") as handle:
        for start in starts:
            handle.seek(start)
            digest.update(handle.read(min(_WINDOW, covered - start)))
    return digest.hexdigest()


def _covered(path: Path, size: int) -> int:
    """Bytes up to and including the last newline: the complete lines."""
    with path.open("rb") as handle:
        end = size
        while end > 0:
            start = max(0, end - _WINDOW)
            handle.seek(start)
            block = handle.read(end - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


@dataclass
class ColumnRead:
    """A run's rows as columns, and what reading them found."""

    table: pa.Table
    damage: list[DamagedLine] = field(default_factory=list)
    #: how the sidecar served this read: hit, grown, built, or off (no sidecar written or read)
    cache: str = "off"


def _meta(path: Path) -> dict[str, Any] | None:
    try:
        raw = (pq.read_metadata(path).metadata or {}).get(_META_KEY)
        meta = json.loads(raw) if raw else None
    except (OSError, ValueError, pa.ArrowInvalid):
        return None
    return meta if isinstance(meta, dict) and meta.get("version") == SIDECAR_VERSION else None


def _damage_from(meta: dict[str, Any], results: Path) -> list[DamagedLine]:
    return [DamagedLine(results, int(d["line"]), str(d["reason"]), bool(d["torn_tail"])) for d in meta["damage"]]


def _decode(results: Path, start: int, first_line: int, size: int, damage: list[DamagedLine]) -> pa.Table:
    batches = list(decode_file(results, start=start, first_line=first_line, size=size, damage=damage))
    return pa.Table.from_batches(batches, schema=ROW_SCHEMA)


class _RowGroups:
    """Batches in, Parquet row groups of at least :data:`ROW_GROUP_ROWS` rows out, written on a
    thread of their own while the caller decodes the next rows.

    The Parquet writer encodes and compresses without the GIL, so a second core takes its share
    of the sidecar's build: writing was 0.15-0.22 of a 100k-row build's 1.0 s of CPU, on the cold
    gate's critical path (bench/gate_timeline.py). One group is written while the next one fills:
    at most two in memory. A failed write raises when the block ends (or at the next group).
    """

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self._writer = writer
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="harness-sidecar")
        self._pending: Future[None] | None = None
        self._group: list[pa.RecordBatch] = []
        self._rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self._group.append(batch)
        self._rows += batch.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self.write(pa.Table.from_batches(self._group, schema=ROW_SCHEMA))
            self._group, self._rows = [], 0

    def write(self, table: pa.Table) -> None:
        """``table`` as the next row group(s), once the one before is written."""
        self._wait()
        self._pending = self._pool.submit(self._writer.write_table, table)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            if kind is None:  # on an error, the one in flight is the one to tell: the last write is only awaited
                if self._group:
                    self.write(pa.Table.from_batches(self._group, schema=ROW_SCHEMA))
                self._wait()
        finally:
            self._pool.shutdown(wait=True)


def _write(results: Path, target: Path, covered: int, damage: list[DamagedLine], *,
           prefix: pa.Table | None = None, start: int = 0, first_line: int = 1) -> bool:
    """Decode ``[start, covered)`` straight into the sidecar (after ``prefix``), batch by batch, so a
    1M-row run is never in memory whole; atomically (temp file, then rename). False: not written
    (a folder we may not write to goes without a cache; the caller decodes in memory)."""
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tally: dict[str, int] = {}
    try:
        target.parent.mkdir(exist_ok=True)
        # snappy: the codec Parquet readers decode fastest; strings are dictionary-encoded by default
        with pq.ParquetWriter(temp, ROW_SCHEMA, compression="snappy") as writer:
            with _RowGroups(writer) as groups:
                if prefix is not None:
                    groups.write(prefix)
                for batch in decode_file(results, start=start, first_line=first_line, size=covered, damage=damage,
                                         tally=tally):
                    groups.add(batch)
            meta = {"version": SIDECAR_VERSION, "covered": covered, "fingerprint": fingerprint(results, covered),
                    "lines": tally.get("lines", first_line - 1),
                    "damage": [{"line": d.line, "reason": d.reason, "torn_tail": d.torn_tail} for d in damage]}
            writer.add_key_value_metadata({_META_KEY: json.dumps(meta).encode()})
        os.replace(temp, target)
        return True
    except OSError as exc:
        log.debug("no columnar sidecar for %s (%s)", results.parent, exc)
        damage.clear()
        return False
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)


def read_columns(run: Path, columns: Sequence[str] | None = None, *, cache: bool = True) -> ColumnRead:
    """The rows of ``run/results.jsonl`` as an Arrow table of :data:`~harness.core.columns.ROW_SCHEMA`
    (only ``columns``, if given), through the sidecar when ``cache`` (see the module doc)."""
    results = run / "results.jsonl"
    names = list(columns or ROW_SCHEMA.names)
    if not results.is_file():
        return ColumnRead(_select(ROW_SCHEMA.empty_table(), names))
    size = results.stat().st_size
    if not cache:
        damage: list[DamagedLine] = []
        return ColumnRead(_select(_decode(results, 0, 1, size, damage), names), damage, "off")
    covered = _covered(results, size)
    target = sidecar_path(run)
    meta = _meta(target) if target.is_file() else None
    stored = int(meta["covered"]) if meta else -1
    damage = []
    if meta is not None and 0 <= stored <= covered and fingerprint(results, stored) == meta["fingerprint"] and (
            stored == covered or not any(d["torn_tail"] for d in meta["damage"])):
        damage = _damage_from(meta, results)
        state = "hit"
        if stored < covered:  # rows appended since: decode just those
            prefix = pq.read_table(target).replace_schema_metadata(None)
            state = "grown" if _write(results, target, covered, damage, prefix=prefix, start=stored,
                                      first_line=int(meta["lines"]) + 1) else "off"
    else:
        state = "built" if _write(results, target, covered, damage) else "off"
    if state == "off":
        damage = []
        table = _select(_decode(results, 0, 1, covered, damage), names)
    else:
        table = _read(target, names)
    if covered < size:  # a last line without its newline: never cached
        lines = _meta(target) if state != "off" else None
        first = int(lines["lines"]) + 1 if lines else _count_lines(results, covered) + 1
        table = pa.concat_tables([table, _select(_decode(results, covered, first, size, damage), names)])
    return ColumnRead(table, damage, state)


def refresh(run: Path) -> str:
    """Bring ``run``'s sidecar up to date (built, grown or found valid) without reading its rows
    back; how the sidecar served (:attr:`ColumnRead.cache`)."""
    return read_columns(run, ["line"]).cache


def _read(target: Path, names: Sequence[str]) -> pa.Table:
    """Only these columns of the sidecar; ``scores.<field>`` reads one field of the nested scores
    (the analysis reads six of their nine, leaving reasons and parameters on disk)."""
    leaves = [f"scores.list.element.{n[7:]}" if n.startswith("scores.") else n for n in names]
    table = pq.ParquetFile(target).read(columns=leaves).replace_schema_metadata(None)
    # hand the pages decoded on the way back to the system: Arrow's pool kept them, 56 MB of a
    # 1M-row gate's peak RSS (bench/analysis_scale.py)
    pa.default_memory_pool().release_unused()
    return table


def _select(table: pa.Table, names: Sequence[str]) -> pa.Table:
    """The columns ``names`` ask for, in memory, shaped as :func:`_read` gives them from the sidecar."""
    fields = [n[7:] for n in names if n.startswith("scores.")]
    table = table.select(list(dict.fromkeys(n.split(".", 1)[0] for n in names)))
    if not fields:
        return table
    scores = table.column("scores").combine_chunks()
    flat = scores.values
    narrow = pa.StructArray.from_arrays([flat.field(f) for f in fields], names=fields)
    column = pa.ListArray.from_arrays(scores.offsets, narrow, type=pa.list_(pa.field("element", narrow.type)))
    return table.set_column(table.schema.get_field_index("scores"), "scores", column)


def _count_lines(results: Path, covered: int) -> int:
    with results.open("rb") as handle:
        count, left = 0, covered
        while left:
            block = handle.read(min(left, 32 << 20))
            count += block.count(b"\n")
            left -= len(block)
    return count


def iter_batches(run: Path, *, cache: bool = True, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
    """Every column of every row, ``rows`` at a time: from the sidecar (made fresh first) when ``cache``,
    else decoded from ``results.jsonl``. A run is never in memory whole."""
    results = run / "results.jsonl"
    if not results.is_file():
        return
    if not cache or refresh(run) == "off":
        yield from decode_file(results, damage=[])
        return
    target = sidecar_path(run)
    meta = _meta(target) or {}
    yield from pq.ParquetFile(target).iter_batches(batch_size=rows)
    covered, size = int(meta.get("covered", 0)), results.stat().st_size
    if covered < size:
        yield from decode_file(results, start=covered, first_line=int(meta.get("lines", 0)) + 1, size=size,
                               damage=[])

"""Decoding ``results.jsonl`` into columns: the chunk-at-once path says exactly what the line-by-line one says.

:func:`harness.core.columns.decode_file` decodes a whole piece of lines with one msgspec call when
every line is provably one row, and falls back to judging each line on its own otherwise. These
tests plant every kind of line that must fall back (blank, CRLF, two rows on one line, a row
spread over two lines, another format version, not JSON, a torn tail) among good rows, with
pieces, chunks and batches small enough to cut through them, and compare the columns, the byte
positions, the line numbers and the damage with the line-by-line path's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from synthetic_runs import VariantSpec

from harness.core import columns
from harness.core.columns import ROW_SCHEMA, decode_file
from harness.core.results import DamagedLine, RunFolderError


def _good_lines(make_run_folder: Callable[..., Path]) -> list[bytes]:
    variants = [VariantSpec("triage@v1", 0.8), VariantSpec("triage@v2", 0.7, task_error_rate=0.1,
                                                              grader_error_rate=0.1)]
    run = make_run_folder(variants, n_tasks=15, epochs=2, seed=7)
    return (run / "results.jsonl").read_bytes().splitlines(keepends=True)


def _decode(path: Path, *, line_by_line: bool, monkeypatch: pytest.MonkeyPatch,
            **options: Any) -> tuple[pa.Table, list[DamagedLine], dict[str, int]]:
    with monkeypatch.context() as patch:
        patch.setattr(columns, "BATCH_ROWS", 7)  # pieces and batches cut through the planted lines
        patch.setattr(columns, "CHUNK_BYTES", 3000)
        fast_rows = columns._fast_rows
        decoded = []
        patch.setattr(columns, "_fast_rows", lambda piece: None if line_by_line else decoded.append(fast_rows(piece))
                      or decoded[-1])
        damage: list[DamagedLine] = []
        tally: dict[str, int] = {}
        batches = list(decode_file(path, damage=damage, tally=tally, **options))
    assert all(b.num_rows <= 7 for b in batches)
    assert line_by_line or any(rows for rows in decoded), "no piece took the one-call path"
    return pa.Table.from_batches(batches, schema=ROW_SCHEMA), damage, tally


def _same_either_way(path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> pa.Table:
    fast, fast_damage, fast_tally = _decode(path, line_by_line=False, monkeypatch=monkeypatch, **options)
    slow, slow_damage, slow_tally = _decode(path, line_by_line=True, monkeypatch=monkeypatch, **options)
    assert fast.equals(slow), (fast.to_pylist()[:3], slow.to_pylist()[:3])
    assert [(d.line, d.reason, d.torn_tail) for d in fast_damage] == [(d.line, d.reason, d.torn_tail)
                                                                       for d in slow_damage]
    assert fast_tally == slow_tally
    return fast


def test_clean_rows_decode_the_same_in_pieces_as_line_by_line(make_run_folder: Callable[..., Path],
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _good_lines(make_run_folder)
    path = tmp_path / "results.jsonl"
    path.write_bytes(b"".join(lines))
    table = _same_either_way(path, monkeypatch)
    assert table.num_rows == len(lines) == 60
    offsets = table.column("offset").to_pylist()
    lengths = table.column("length").to_pylist()
    data = path.read_bytes()
    assert [data[o:o + n] + b"\n" for o, n in zip(offsets, lengths, strict=True)] == lines
    assert table.column("line").to_pylist() == list(range(1, 61))


def test_every_line_that_needs_judging_alone_gets_the_same_verdict(make_run_folder: Callable[..., Path],
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _good_lines(make_run_folder)
    row = json.loads(lines[0])
    spread = json.dumps(row, indent=1).encode() + b"\n"  # one row over many lines
    planted = {
        3: b"\n",
        5: b"   \t\n",
        9: lines[9].rstrip(b"\n") + b"\r\n",
        14: lines[14].rstrip(b"\n") + b" " + lines[15],  # two rows on one line
        20: spread,
        27: json.dumps({**row, "epoch": "2"}).encode() + b"\n",  # lax: pydantic's coercion, msgspec's too
        33: b'{"format_version": 1, "not": "a row"}\n',
        40: b"not json at all\n",
    }
    path = tmp_path / "results.jsonl"
    path.write_bytes(b"".join(planted.get(i, line) for i, line in enumerate(lines)) + b'{"format_version": 1, "ru')
    table = _same_either_way(path, monkeypatch)
    assert table.num_rows > 40
    _, damage, _ = _decode(path, line_by_line=False, monkeypatch=monkeypatch)
    reasons = {d.line: d.reason for d in damage}
    assert 15 in reasons and 4 not in reasons and 6 not in reasons  # two rows on a line: damaged; blanks: skipped
    assert any("a JSON str, not an object" in r for r in reasons.values())  # a line of the spread row
    assert damage[-1].torn_tail and not damage[0].torn_tail


def test_another_format_version_stops_both_paths_alike(make_run_folder: Callable[..., Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _good_lines(make_run_folder)
    lines[11] = json.dumps({**json.loads(lines[11]), "format_version": 99}).encode() + b"\n"
    path = tmp_path / "results.jsonl"
    path.write_bytes(b"".join(lines))
    messages = []
    for line_by_line in (False, True):
        with pytest.raises(RunFolderError) as caught:
            _decode(path, line_by_line=line_by_line, monkeypatch=monkeypatch)
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "99" in messages[0]


def test_a_part_of_the_file_decodes_the_same_either_way(make_run_folder: Callable[..., Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """What the sidecar does when rows were appended: decode from a byte and a line number on."""
    lines = _good_lines(make_run_folder)
    path = tmp_path / "results.jsonl"
    path.write_bytes(b"".join(lines))
    start = sum(map(len, lines[:23]))
    table = _same_either_way(path, monkeypatch, start=start, first_line=24)
    assert table.column("line").to_pylist() == list(range(24, 61))
    assert table.column("offset")[0].as_py() == start

"""How the columnar sidecar is written: row groups in order, off the decoding thread, never half a file.

(What a sidecar *says* — the same summaries, verdicts and gates as the row model — is
tests/analysis/test_columnar_path.py.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from synthetic_runs import VariantSpec

from harness.core import columns, sidecar
from harness.core.results import RunFolderError
from harness.core.sidecar import read_columns, sidecar_path


@pytest.fixture
def run(make_run_folder: Callable[..., Path]) -> Path:
    return make_run_folder([VariantSpec("triage@v1", 0.8),
                            VariantSpec("triage@v2", 0.7, task_error_rate=0.1, grader_error_rate=0.1)],
                           n_tasks=25, epochs=2, seed=11)


def test_row_groups_hold_batch_rows_each_and_every_row_in_order(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoded pieces (cut small here) are gathered into row groups of ROW_GROUP_ROWS, written on the
    writer's thread while the next ones decode; the file reads back as the rows decoded in memory."""
    monkeypatch.setattr(columns, "BATCH_ROWS", 7)
    monkeypatch.setattr(sidecar, "ROW_GROUP_ROWS", 7)
    monkeypatch.setattr(columns, "CHUNK_BYTES", 3000)  # pieces smaller than a batch: several to a group
    built = read_columns(run)
    assert built.cache == "built"
    metadata = pq.ParquetFile(sidecar_path(run)).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [7] * 14 + [2]
    assert read_columns(run).table.equals(read_columns(run, cache=False).table)


def test_a_write_that_fails_on_the_writer_thread_leaves_no_sidecar(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk, met on the writer's thread: the read goes on without a cache, nothing half-written stays."""
    monkeypatch.setattr(columns, "BATCH_ROWS", 7)
    monkeypatch.setattr(sidecar, "ROW_GROUP_ROWS", 7)
    written: list[int] = []

    def full_disk(self: pq.ParquetWriter, table: object, *args: object, **kwargs: object) -> None:
        written.append(1)
        if len(written) == 3:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    read = read_columns(run)
    assert read.cache == "off" and read.table.num_rows == 100
    assert len(written) == 3, "nothing written after the failure"
    assert not sidecar_path(run).exists()
    assert not [p.name for p in sidecar_path(run).parent.iterdir()], "no temp file left"


def test_a_row_of_another_format_version_stops_the_build_with_its_own_error(
        run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row groups in flight on the writer's thread (one of them failing) never hide the decode's
    error: the reader says which version it met, and nothing half-written stays."""
    monkeypatch.setattr(columns, "BATCH_ROWS", 7)
    monkeypatch.setattr(sidecar, "ROW_GROUP_ROWS", 7)
    path = run / "results.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[60] = json.dumps({**json.loads(lines[60]), "format_version": 99}).encode() + b"\n"
    path.write_bytes(b"".join(lines))

    def full_disk(self: pq.ParquetWriter, table: object, *args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    with pytest.raises(RunFolderError, match="99"):
        read_columns(run)
    assert not [p.name for p in sidecar_path(run).parent.iterdir()], "no sidecar, no temp file"

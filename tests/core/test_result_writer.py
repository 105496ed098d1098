"""ResultWriter: rows appended as they finish, each on disk before the writer returns."""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.core.results import ResultRow, ResultWriter, read_rows, row_line


def _row(task_id: str) -> ResultRow:
    return ResultRow(run_id="r", suite="s", variant="v@1", task_id=task_id, output=f"answer {task_id}")


def _on_disk(path: Path) -> list[str]:
    """What another process (a reader, or what kill -9 leaves) sees: the file, not this writer's buffer."""
    return [row.task_id for row in read_rows(path)]


def test_each_row_is_on_disk_as_soon_as_it_is_written(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    writer = ResultWriter(path)
    writer.write(_row("t1"))
    assert _on_disk(path) == ["t1"]
    writer.write_lines(['{"format_version": 1, "run_id": "r", "suite": "s", "variant": "v@1", "task_id": "t2"}'])
    assert _on_disk(path) == ["t1", "t2"]
    writer.close()


def test_inside_an_event_loop_a_row_is_on_disk_before_the_loop_turns(tmp_path: Path):
    """A flow that never awaits never lets the loop turn: its rows must not wait for one."""
    path = tmp_path / "results.jsonl"
    writer = ResultWriter(path)

    async def write_without_awaiting() -> list[str]:
        writer.write(_row("t1"))
        return _on_disk(path)

    assert asyncio.run(write_without_awaiting()) == ["t1"]
    writer.close()


def test_a_rows_line_is_pydantics_json_of_it_byte_for_byte():
    """row_line calls the model's serializer directly: the stored line must not change by a byte."""
    row = ResultRow(run_id="r", suite="s", variant="v@1", task_id="t",
                    output={"text": "héllo ✓ \u2028 \x00", "small": 1e-7, "big": 1e16, "inf": float("inf")},
                    state={"list": [1, 2.5, None]}, tags=["a"])
    assert row_line(row) == row.model_dump_json()
    assert row_line(row, scrub=lambda text: text.replace("héllo", "[x]")) == row.model_dump_json().replace("héllo", "[x]")

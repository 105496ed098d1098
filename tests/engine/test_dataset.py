"""Datasets: every bad line reported at once, with file, line and field; deterministic selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.dataset import Dataset, DatasetError, Task, load_dataset


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_valid_jsonl_loads_every_input_shape(tmp_path):
    path = write(tmp_path / "d.jsonl",
                 '{"id": "a", "input": "text"}',
                 '{"id": 2, "input": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}',
                 '{"id": "c", "input": {"order_id": "A1"}, "expected": {"route": "orders"}, "tags": ["dev"]}')
    tasks = load_dataset(path)
    assert [t.id for t in tasks] == ["a", "2", "c"]
    assert tasks[1].input[0].role == "user"
    assert tasks[2].expected == {"route": "orders"}


def test_every_bad_line_is_reported_with_file_line_and_field(tmp_path):
    path = write(tmp_path / "bad.jsonl",
                 '{"id": "a", "input": "ok"}',
                 '{"id": "a", "input": "duplicate"}',
                 '{not json',
                 '{"id": "c"}',
                 '{"id": "d", "input": 3}',
                 '[1, 2]',
                 '{"id": "e", "input": "x", "tags": "dev"}',
                 '{"id": "f", "input": [{"role": "user"}]}',
                 '{"id": "g", "input": "x", "surprise": 1}')
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    problems = {(p.line, p.field) for p in info.value.problems}
    assert problems == {(2, "id"), (3, "<line>"), (4, "input"), (5, "input"), (6, "<line>"), (7, "tags"),
                        (8, "input.0.content"), (9, "surprise")}
    message = str(info.value)
    assert f"{path}:2: field 'id': duplicate id 'a' (first on line 1)" in message
    assert f"{path}:4: field 'input': Field required" in message
    assert "8 problem(s)" in message


def test_blank_lines_are_skipped_but_counted(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"id": "a", "input": "x"}', "", '{"id": "b"}')
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    assert [(p.line, p.field) for p in info.value.problems] == [(3, "input")]


def test_csv_with_json_cells(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,input,expected,tags\nq1,"Where is A1?","{""route"": ""orders""}","dev,easy"\nq2,hello,,\n')
    tasks = load_dataset(path)
    assert tasks[0].expected == {"route": "orders"} and tasks[0].tags == ["dev", "easy"]
    assert tasks[1].expected is None and tasks[1].tags == []


def test_csv_errors_name_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,input\nq1,hello\n,missing id\n")
    with pytest.raises(DatasetError, match=r"d.csv:3: field 'id'"):
        load_dataset(path)


def test_selection_by_tag_and_id_and_deterministic_sample(tmp_path):
    path = write(tmp_path / "d.jsonl", *(json.dumps({"id": f"t{i}", "input": "x", "tags": ["dev" if i % 2 else "test"]})
                                         for i in range(50)))
    dataset = Dataset(path)
    assert len(dataset.select(tags=["dev"]).tasks()) == 25
    assert [t.id for t in dataset.select(ids=["t3", "t7"]).tasks()] == ["t3", "t7"]
    first = [t.id for t in dataset.select(sample=10, seed=1).tasks()]
    assert first == [t.id for t in dataset.select(sample=10, seed=1).tasks()]
    assert first != [t.id for t in dataset.select(sample=10, seed=2).tasks()]
    assert len(dataset.select(limit=5).tasks()) == 5


def test_tasks_are_immutable():
    task = Task(id="a", input="x")
    with pytest.raises(ValidationError, match="frozen"):
        task.id = "b"  # type: ignore[misc]

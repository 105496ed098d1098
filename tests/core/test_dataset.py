"""Datasets: every bad line reported at once, with file, line and field; deterministic selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.core.dataset import Dataset, DatasetError, Task, load_dataset


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


# -- CSV: the same contract as JSONL ------------------------------------------------------------

def csv_file(tmp_path: Path, text: str | bytes, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def problems_of(path: Path) -> list[tuple[int, str]]:
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    return [(p.line, p.field) for p in info.value.problems]


def test_csv_header_without_input_is_one_problem_on_line_1(tmp_path):
    path = csv_file(tmp_path, "id,question\n" + "".join(f"q{i},hello\n" for i in range(20)))
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    assert [(p.line, p.field) for p in info.value.problems] == [(1, "input"), (1, "question")]
    assert f"{path}:1: field 'input': the header has no 'input' column (columns: id, question)" in str(info.value)


def test_csv_short_and_long_rows_are_rejected_not_padded(tmp_path):
    path = csv_file(tmp_path, "id,input\nq1\nq2,hello, world\nq3,fine\n")
    assert problems_of(path) == [(2, "<line>"), (3, "<line>")]
    message = str(pytest.raises(DatasetError, load_dataset, path).value)
    assert ":2: field '<line>': 1 cell, but the header has 2 columns" in message
    assert ":3: field '<line>': 3 cells, but the header has 2 columns (a cell with a comma in it must be quoted" in message


def test_csv_reports_every_problem_at_once_and_never_a_parser_exception(tmp_path):
    path = csv_file(tmp_path, 'id,input,metadata\n'
                              'q1,"bad"quote,\n'         # 2: strict CSV
                              'q2,ok,{not json\n'        # 3: metadata cell
                              ',no id,\n'                # 4: empty required cell
                              'q5,"a\nb",\n'             # 5-6: one record over two lines, fine
                              'q5,dup,\n'                # 7: duplicate id
                              'q8,x,,extra\n')           # 8: long row
    assert problems_of(path) == [(2, "<line>"), (3, "metadata"), (4, "id"), (7, "id"), (8, "<line>")]


def test_csv_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = csv_file(tmp_path, b"id,input\nq1,ok\nq2,caf\xe9\nq3,ok\n")
    assert problems_of(path) == [(3, "<line>")]


def test_csv_accepts_bom_crlf_blank_lines_and_bracketed_text(tmp_path):
    path = csv_file(tmp_path, b'\xef\xbb\xbfid,input\r\nq1,[urgent] where is A1?\r\n\r\nq2,"x, y"\r\n')
    assert [(t.id, t.input) for t in load_dataset(path)] == [("q1", "[urgent] where is A1?"), ("q2", "x, y")]


def test_an_empty_csv_or_a_missing_file_is_a_dataset_error(tmp_path):
    assert problems_of(csv_file(tmp_path, "")) == [(1, "<header>")]
    with pytest.raises(DatasetError, match=r"missing.jsonl: cannot read it"):
        load_dataset(tmp_path / "missing.jsonl")


def test_json_errors_quote_the_files_line_not_the_parsers(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"id": "a", "input": "x"}', '{"id": "b", "input": }')
    message = str(pytest.raises(DatasetError, load_dataset, path).value)
    assert f"{path}:2: field '<line>': not valid JSON: Expecting value (column 22)" in message
    assert "line 1" not in message and "line 2 column" not in message


@pytest.mark.parametrize(("task", "fingerprint"), [
    (Task(id="a", input="question 1"), "799dd1a577fbf823"),
    (Task(id="b", input=[{"role": "user", "content": "héllo"}], expected={"route": "refunds", "n": 2}),
     "8733c1ce3d2509cf"),
    (Task(id="c", input={"order": 7, "note": "x"}, expected=["z", 1.5]), "74cf1d216df103ef"),
])
def test_task_fingerprints_are_stable_across_harness_versions(task, fingerprint):
    """run.json's task_hashes (TASK_HASH_VERSION 1) compare runs made by different harness versions:
    these are the values the first version computed, and a faster encoder must give the same."""
    assert task.content_sha256() == fingerprint
    assert task.content_sha256() == Task(id="other", input=task.input, expected=task.expected).content_sha256()
    assert Task(id="a", input="question 2").content_sha256() != "799dd1a577fbf823"

"""``cassettes status`` / ``prune`` judge recordings by everything the suite can run.

A suite that samples 2 of 6 tasks still runs all 6 with ``--all-tasks``: prune must never delete
those recordings. Only a recording no dataset task and no declared variant can use goes, its
emptied folders with it; paths are printed relative to the project; a changed task input is stale.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.engine.cassette.inventory import prune, status
from harness.engine.loader import find_suite
from harness.testing.stub_server import StubServer

SUITE = textwrap.dedent('''
    from pathlib import Path
    from harness import Dataset, ModelSettings, Suite, Variant

    async def ask(input, ctx):
        reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                         **ctx.model_kwargs())
        return reply.choices[0].message.content

    suite = Suite(name="sampled", dataset=Dataset(Path(__file__).parent / "tasks.jsonl", sample=2),
                  variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))])
''')


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "tasks.jsonl").write_text(
        "".join(json.dumps({"id": f"t{i}", "input": f"question {i}"}) + "\n" for i in range(6)))
    (tmp_path / "evals" / "test_sampled.py").write_text(SUITE)
    monkeypatch.chdir(tmp_path)
    with StubServer() as stub:
        out = CliRunner().invoke(app, ["run", "evals/test_sampled.py", "--record-mode", "once", "--all-tasks",
                                       "--base-url", stub.base_url, "--no-report", "--no-progress"])
    assert out.exit_code == 0, out.output
    return tmp_path


def test_recordings_of_tasks_outside_the_sample_are_used_not_pruned(project: Path):
    suite = find_suite(project / "evals" / "test_sampled.py")
    report = status(suite, Path("cassettes"))
    assert len(report.used) == 6 and not report.unused and not report.missing and not report.unrecorded
    assert prune(report) == []
    assert len(list((project / "cassettes").rglob("*.json"))) == 6


def test_prune_lists_then_deletes_only_the_unusable_and_their_emptied_folders(project: Path):
    renamed = project / "cassettes" / "sampled" / "ask@v0"
    shutil.copytree(project / "cassettes" / "sampled" / "ask@v1", renamed)  # a variant since renamed
    dry = CliRunner().invoke(app, ["cassettes", "prune", "evals/test_sampled.py", "--dry-run"])
    assert dry.exit_code == 0 and "6 recording(s) no task or variant can use" in dry.output
    assert "  cassettes/sampled/ask@v0/t0.json" in dry.output and "nothing deleted" in dry.output
    assert renamed.is_dir()

    out = CliRunner().invoke(app, ["cassettes", "prune", "evals/test_sampled.py", "--yes"])
    assert out.exit_code == 0 and "deleted 6 unused recording(s)" in out.output
    assert not renamed.exists(), "the emptied folder goes too"
    assert len(list((project / "cassettes" / "sampled" / "ask@v1").glob("*.json"))) == 6


def test_status_prints_paths_one_way_and_a_changed_task_input_is_stale(project: Path):
    tasks = project / "evals" / "tasks.jsonl"
    tasks.write_text(tasks.read_text().replace('"question 3"', '"question three"'))
    (project / "cassettes" / "sampled" / "ask@v1" / "t5.json").unlink()
    out = CliRunner().invoke(app, ["cassettes", "status", "evals/test_sampled.py"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "stale cassettes/sampled/ask@v1/t3.json (task input changed since recording)" in text
    lines = [line.split()[1] for line in out.output.splitlines() if line.startswith("  ")]
    assert lines and all(p.startswith("cassettes/") for p in lines), lines
    assert str(project) not in out.output

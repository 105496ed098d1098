"""``harness cassettes migrate`` rewrites format-1 recordings to structural keys, calling no model.

The fixtures are real format-1 recordings of the demo's fan-out suite (three Agents SDK runs in
``asyncio.gather``; keys such as ``b0/run_agent#2/preserve_tool_task_cancellation#1``), one of
them of a task that failed. Migration replays them by their old keys, rewrites them, and replays
again: every row (output, error, scores, trajectory) must be the same.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app
from harness.engine.cassette.migrate import migrate_suite
from harness.engine.loader import find_suite

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures" / "format1"


def _copy(tmp_path: Path) -> Path:
    cassettes = tmp_path / "cassettes"
    shutil.copytree(FIXTURES, cassettes)
    return cassettes


def _keys(path: Path) -> list[str]:
    return [i["request"]["headers"]["x-harness-key"][0] for i in json.loads(path.read_text())["interactions"]]


def test_migrate_rewrites_only_the_keys_and_replays_identically(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cassettes = _copy(tmp_path)
    before = {p.relative_to(cassettes): json.loads(p.read_text()) for p in cassettes.rglob("*.json")}
    assert any("preserve_tool_task_cancellation" in k for p in cassettes.rglob("*.json") for k in _keys(p))

    result = asyncio.run(migrate_suite(find_suite(ROOT / "evals" / "test_fanout.py"), cassettes))

    assert len(result.migrated) == 3 and not result.left, result.left
    assert result.verified_rows >= 3 and result.differences == []
    for path in cassettes.rglob("*.json"):
        data = json.loads(path.read_text())
        old = before[path.relative_to(cassettes)]
        assert data["metadata"]["harness"]["format"] == 2
        assert all(k.split("|")[-2] in {"b0/1", "b0/2", "b0/3"} for k in _keys(path)), _keys(path)
        for new_i, old_i in zip(data["interactions"], old["interactions"], strict=True):
            assert new_i["response"] == old_i["response"]
            assert new_i["request"]["body"] == old_i["request"]["body"]
        assert set(data["metadata"]["harness"]["timing"]["calls"]) == set(_keys(path))

    again = asyncio.run(migrate_suite(find_suite(ROOT / "evals" / "test_fanout.py"), cassettes))
    assert not again.migrated and len(again.current) == 3, "migrating twice changes nothing"


def test_a_recording_that_does_not_replay_whole_is_left_as_it_was_with_the_reason(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cassettes = _copy(tmp_path)
    damaged = cassettes / "fanout" / "fanout@v1" / "cl-007.json"
    data = json.loads(damaged.read_text())
    data["interactions"].pop()  # a call the flow makes is gone
    damaged.write_text(json.dumps(data))

    out = CliRunner().invoke(app, ["cassettes", "migrate", str(ROOT / "evals" / "test_fanout.py"),
                                   "--cassettes", str(cassettes)])
    assert out.exit_code == 1, out.output
    assert "2 migrated" in out.output and "1 left as they were" in out.output
    assert "cl-007" in out.output and "--record-mode rewrite --ids cl-007" in " ".join(out.output.split())
    assert json.loads(damaged.read_text())["metadata"]["harness"]["format"] == 1

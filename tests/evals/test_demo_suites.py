"""The demo project replays offline, exactly as recorded, and its gates hold.

Every suite under ``evals/`` replays from the committed cassettes in record mode ``none`` (no
key, no network: the socket guard would refuse a connection) with no cassette miss, and the
suite's own gates pass on the replay.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.engine.loader import find_suite
from harness.engine.runner import RunOptions, run_suite
from harness.engine.runtime import RuntimeConfig
from harness.gate import ExitCode, evaluate_gates

ROOT = Path(__file__).resolve().parents[2]
SUITE_FILES = sorted((ROOT / "evals").glob("test_*.py"))
DEAD_URL = "http://127.0.0.1:9/v1"


def replay(suite_file: Path, runs: Path, **options):
    suite = find_suite(suite_file)
    config = RuntimeConfig(base_url=DEAD_URL, cassette_dir=ROOT / "cassettes")
    return suite, asyncio.run(run_suite(suite, RunOptions(record_mode="none", runtime=config, runs_dir=runs,
                                                          concurrency=8, **options)))


def test_every_demo_suite_is_found():
    assert {p.stem for p in SUITE_FILES} >= {"test_support", "test_router", "test_articles", "test_fanout",
                                            "test_refunds"}


@pytest.mark.parametrize("suite_file", SUITE_FILES, ids=lambda p: p.stem)
def test_suite_replays_without_a_miss_and_its_gates_pass(suite_file: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    suite, result = replay(suite_file, tmp_path)
    rows = list(result.folder.rows())
    expected = len(suite.resolved_dataset().tasks()) * len(suite.variants) * suite.epochs
    assert len(rows) == expected
    misses = [f"{r.variant}/{r.task_id}: {r.error.message}" for r in rows if r.error and r.error.kind == "cassette_miss"]
    assert not misses, "\n".join(misses[:5])
    report = evaluate_gates(result.path)
    assert report.exit_code == ExitCode.OK, "\n".join(report.messages())

"""Every command, given bad arguments or bad files, as a new user would: one clear message, the
right exit code, no traceback (unless ``--debug``), and nothing a user keeps is touched.

The project starts from a finished, recorded run with a baseline (built once per module and
copied per test), plus the bad files a user might have: a CSV without an ``input`` column, a
suite whose gates can never be evaluated, a suite file that does not parse, and a run folder
whose ``run.json`` is torn. After each command the run folders, cassettes and baseline are
byte-for-byte what they were.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.testing.stub_server import StubServer

Cli = Callable[..., Any]

BAD_FILES = {
    "datasets/bad.csv": "id,question\nq1,hello\nq2,hi\n",
    "evals/test_bad.py": '''
from harness import Suite, Variant
from harness.gate import Gate


def echo(input, ctx):
    return input


badcsv = Suite(name="badcsv", dataset="datasets/bad.csv", variants=[Variant("v", flow=echo)])
''',
    "evals/test_badgates.py": '''
from harness import Suite, Variant
from harness.gate import Gate


def echo(input, ctx):
    return input


badgates = Suite(name="badgates", dataset="datasets/tasks.jsonl", variants=[Variant("v", flow=echo)],
                 gates=[Gate.metric("acuracy", ">=", 0.8), Gate.no_regression("p95_latency_s")])
''',
    "evals/test_syntax.py": "suite = (\n",
    "reports/runs/zz-torn/run.json": '{"run_id": "zz-torn", "suite": ',
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, demo_project: Callable[[Path], None]) -> Iterator[Path]:
    """A project with one recorded run of suite ``ok``, its cassettes and a baseline."""
    from harness.cli import main

    root = tmp_path_factory.mktemp("finished")
    demo_project(root)
    with StubServer() as stub, pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for args in (["run", "evals/test_demo.py", "--suite", "ok", "--record-mode", "once", "--base-url",
                      stub.base_url, "--no-plots"], ["baseline", "update", "latest"]):
            patch.setattr(sys, "argv", ["harness", *args])
            with pytest.raises(SystemExit) as exit_:
                main()
            assert exit_.value.code == 0, args
    for name, text in BAD_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    yield root


@pytest.fixture
def project(finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the finished project per test (overrides conftest's ``project``), as cwd."""
    root = tmp_path / "project"
    shutil.copytree(finished, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return root


def kept_state(root: Path) -> dict[str, bytes]:
    """Every file a user keeps: run folders (reports included), cassettes, the baseline."""
    return {str(p.relative_to(root)): p.read_bytes()
            for folder in ("reports", "cassettes") for p in sorted((root / folder).rglob("*")) if p.is_file()}


# (arguments, exit code, a phrase of the one message). Usage errors click finds exit 2 as well.
CASES = [
    # run: settings out of range, each with its range
    (["run", "evals/test_demo.py", "--suite", "ok", "--concurrency", "0"], 2,
     "--concurrency must be a whole number from 1 to 1024"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--concurrency", "-1"], 2,
     "--concurrency must be a whole number from 1 to 1024"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--concurrency", "100000"], 2,
     "use --workers to spread a large replay); got 100000"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--epochs", "0"], 2,
     "--epochs must be a whole number of at least 1; got 0"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--timeout", "0"], 2,
     "--timeout must be a number above 0 (seconds per task); got 0.0"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--sample", "0"], 2, "--sample must be a whole number of at least 1"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--limit", "0"], 2, "--limit must be a whole number of at least 1"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--workers", "-1"], 2, "--workers must be a whole number from 0"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--max-cost", "0"], 2, "--max-cost must be a number above 0"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--shard", "0/3"], 2,
     "shard i/N must have whole numbers 1 <= i <= N (e.g. 2/4); got 0/3"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--shard", "two"], 2, "shard i/N must have whole numbers"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--concurrency", "many"], 2, "Invalid value for '--concurrency'"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--record-mode", "always"], 2, "Invalid value for '--record-mode'"),
    # run: what to run
    (["run"], 2, "Missing argument 'suite_file'"),
    (["run", "evals/missing.py"], 2, "no suite file at evals/missing.py"),
    (["run", "evals/test_demo.py"], 2, "defines several suites (ok, bad, misconfigured, broken); choose one with --suite"),
    (["run", "evals/test_demo.py", "--suite", "nope"], 2, "has no suite named 'nope'"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--variant", "ask@v9"], 2, "suite 'ok' has no variant 'ask@v9'"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--ids", "t1", "nope"], 2,
     "--ids: nope is not a task id in datasets/tasks.jsonl"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--tag", "nope"], 2,
     "nothing to run: no task of datasets/tasks.jsonl is selected by --tag nope"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--resume", "nope"], 2, "reports/runs/nope is not a run folder"),
    # run: bad files
    (["run", "evals/test_bad.py"], 2, "datasets/bad.csv:1: field 'input': the header has no 'input' column"),
    (["run", "evals/test_badgates.py"], 2, "suite 'badgates' declares gates that cannot be evaluated"),
    (["run", "evals/test_syntax.py"], 2, "'(' was never closed (test_syntax.py, line 1)"),
    # report, compare, gate, baseline
    (["report", "nope"], 2, "no run 'nope': not a folder, and not a run id under reports/runs"),
    (["report", "zz-torn"], 2, "reports/runs/zz-torn/run.json:1: not valid JSON"),
    (["compare", "ask@v1"], 2, "Missing argument 'b'"),
    (["compare", "ask@v1", "ask@v9", "--run", "nope"], 2, "no run 'nope'"),
    (["gate", "nope"], 2, "no run 'nope'"),
    (["gate", "zz-torn"], 2, "reports/runs/zz-torn/run.json:1: not valid JSON"),
    (["gate", "zz-torn", "--max-error-rate", "1.5"], 2, "--max-error-rate must be a number from 0 to 1"),
    (["baseline", "update", "nope"], 2, "no run 'nope'"),
    (["baseline", "update", "zz-torn"], 2, "reports/runs/zz-torn/run.json:1: not valid JSON"),
    # cassettes, list, merge, regrade, calibrate, view
    (["cassettes", "status", "evals/missing.py"], 2, "no suite file at evals/missing.py"),
    (["cassettes", "prune", "evals/test_badgates.py"], 2, "suite 'badgates' declares gates that cannot be evaluated"),
    (["list", "evals/test_bad.py"], 2, "datasets/bad.csv:1: field 'input'"),
    (["merge", "nope"], 2, "no run 'nope'"),
    (["merge", "zz-torn", "zz-torn"], 2, "reports/runs/zz-torn/run.json:1: not valid JSON"),
    (["regrade", "nope"], 2, "no run 'nope'"),
    (["calibrate", "evals/test_demo.py", "--suite", "ok"], 2, "suite 'ok' declares no calibration sets"),
    (["calibrate", "evals/test_demo.py", "--suite", "ok", "--samples", "0"], 2,
     "--samples must be a whole number from 1 to 100"),
    (["view", "nope"], 2, "no folder nope"),
    (["view", "--traces", "nope"], 2, "nope is not a capture folder"),
    (["view", "--port", "70000"], 2, "--port must be a whole number from 1 to 65535 (a TCP port); got 70000"),
    (["cassettes", "migrate", "evals/missing.py"], 2, "no suite file at evals/missing.py"),
    # init, local-model
    (["init", "datasets/tasks.jsonl"], 2, "datasets/tasks.jsonl exists and is not a folder"),
    (["init", "."], 2, "harness init never overwrites; these already exist in"),
    (["local-model", "stop"], 0, "no local model server was running (nothing to stop)"),
    (["local-model", "start", "--threads", "0"], 2, "--threads must be a whole number from 1 to "),
    (["no-such-command"], 2, "No such command 'no-such-command'"),
]


@pytest.mark.parametrize(("args", "code", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_mistake_gets_one_clear_message_and_changes_nothing(cli: Cli, project: Path, args: list[str], code: int,
                                                              message: str) -> None:
    before = kept_state(project)
    result = cli(*args)
    assert result.code == code, result.text
    assert message in result.text, result.text
    assert "Traceback" not in result.out + result.err
    assert result.text.count(message) == 1, "said once"
    assert kept_state(project) == before, "no run folder, cassette or baseline changed"


def test_debug_shows_the_traceback_of_the_same_mistake(cli: Cli, project: Path) -> None:
    from harness.core.run_settings import SettingError

    with pytest.raises(SettingError, match="--concurrency must be"):
        cli("--debug", "run", "evals/test_demo.py", "--suite", "ok", "--concurrency", "0")

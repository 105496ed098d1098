"""The ``harness`` command line: every command, every gate exit code, errors, and shard/merge equivalence.

Runs go live against the stub model server (``--record-mode off``) unless a test is about
cassettes. Everything happens in a temporary project folder (see ``conftest.py``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import UsageError, app
from harness.prefork import Prefork
from tests.view.conftest import serve

#: ``cli("gate", "latest")`` -> a result with ``code``, ``out``, ``err`` and whitespace-normalised ``text``.
Cli = Callable[..., Any]


def run_folders(root: Path) -> list[Path]:
    runs = root / "reports" / "runs"
    return sorted(p for p in runs.iterdir() if (p / "run.json").is_file()) if runs.is_dir() else []

COMMANDS = [
    ["run"], ["report"], ["compare"], ["gate"], ["baseline", "update"], ["cassettes", "status"],
    ["cassettes", "prune"], ["list"], ["merge"], ["regrade"], ["calibrate"],
    ["local-model", "start"], ["local-model", "stop"], ["local-model", "status"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_help_shows_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


def test_list_shows_each_suite_with_its_variants(cli: Cli) -> None:
    result = cli("list")
    assert result.code == 0, result.text
    for name in ("ok", "bad", "misconfigured", "broken", "ask@v1", "ask@v2", "evals/test_demo.py"):
        assert name in result.out


def test_run_writes_a_run_folder_and_report_writes_the_report(cli: Cli, live: list[str], project: Path) -> None:
    result = cli("run", "evals/test_demo.py", "--suite", "ok", *live)
    assert result.code == 0, result.text
    (folder,) = run_folders(project)
    assert len((folder / "results.jsonl").read_text().splitlines()) == 18
    assert f"ok: 18 rows, 0 task errors, 0 grader errors → reports/runs/{folder.name}" in result.text

    shutil.rmtree(folder / "report")
    report = cli("report", "latest", "--no-plots", "--no-show")
    assert report.code == 0, report.text
    for name in ("report.md", "report.html", "summary.json", "results.csv", "results.parquet"):
        assert (folder / "report" / name).is_file(), name


def test_run_stores_the_viewers_summary_so_the_first_open_analyses_nothing(cli: Cli, live: list[str],
                                                                         project: Path) -> None:
    from harness.view import catalog

    assert cli("run", "evals/test_demo.py", "--suite", "ok", *live).code == 0
    (folder,) = run_folders(project)
    stored = folder / catalog.STORED_ANALYSIS
    assert stored.is_file(), "harness run leaves the viewer's summary beside the run"
    before = stored.stat()
    value = json.loads(stored.read_text())["value"]
    assert value["error"] is None and value["summary"]["run"]["run_id"] == folder.name
    for viewer in serve(project / "reports" / "runs"):
        served = viewer.get(f"/api/runs/{folder.name}/summary")
        assert served.status_code == 200 and served.json() == value
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "served as stored, not recomputed"


@pytest.mark.parametrize(("suite", "code"), [("ok", 0), ("bad", 1), ("misconfigured", 2), ("broken", 3)])
def test_gate_exit_codes_from_run_and_from_gate(cli: Cli, live: list[str], project: Path,
                                                suite: str, code: int) -> None:
    ran = cli("run", "evals/test_demo.py", "--suite", suite, *live)  # the gates' code by default
    assert ran.code == code, ran.text
    (folder,) = run_folders(project)
    gated = cli("gate", str(folder))
    assert gated.code == code, gated.text
    verdict = {0: "all gates pass", 1: "a gate failed", 2: "configuration error", 3: "run incomplete"}[code]
    assert verdict in gated.text


def test_run_with_no_gate_exits_zero_even_when_a_gate_fails(cli: Cli, live: list[str]) -> None:
    assert cli("run", "evals/test_demo.py", "--suite", "bad", "--no-gate", *live).code == 0


def test_gate_json_output(cli: Cli, live: list[str]) -> None:
    cli("run", "evals/test_demo.py", "--suite", "bad", *live)
    result = cli("gate", "latest", "--suite", "bad", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["exit_code"] == 1 and report["results"][0]["status"] == "fail"


def test_gate_latest_gates_every_suite_of_the_project_and_exits_with_the_worst_code(
        cli: Cli, live: list[str], project: Path) -> None:
    cli("run", "evals/test_demo.py", "--suite", "ok", *live)
    cli("run", "evals/test_demo.py", "--suite", "bad", *live)  # bad fails its gate, ok passes its own
    result = cli("gate", "latest")
    # two suites the project declares never ran: nothing to judge them on, so the project is incomplete
    assert result.code == 3, result.text
    assert "no run of suite 'broken'" in result.text and "no run of suite 'misconfigured'" in result.text
    assert "[bad] FAIL echo >= 0.9" in result.text, result.out
    report = json.loads(cli("gate", "latest", "--json").out)
    assert {s["suite"]: s["exit_code"] for s in report["suites"]} == {"ok": 0, "bad": 1, "broken": 3,
                                                                      "misconfigured": 3}
    (project / "only").mkdir()  # a folder declaring no suite: the runs alone say what the project is
    ran = cli("gate", "latest", "--evals", "only")
    assert ran.code == 1 and "not passing: bad (a gate failed)" in ran.text, ran.text
    assert cli("gate", "latest", "--suite", "ok").code == 0  # one suite, as before


def test_compare_two_runs_and_two_variants(cli: Cli, live: list[str], project: Path) -> None:
    cli("run", "evals/test_demo.py", "--suite", "ok", *live)
    cli("run", "evals/test_demo.py", "--suite", "ok", *live)
    first, second = run_folders(project)

    runs = cli("compare", str(first), str(second))
    assert runs.code == 0, runs.text
    assert (second / "compare" / "report.md").is_file()

    variants = cli("compare", "ask@v1", "ask@v2")  # in the latest run (ids sort by time, then at random)
    assert variants.code == 0, variants.text
    assert [p for p in (first, second) if (p / "compare-ask_v1-vs-ask_v2" / "report.md").is_file()]

    mixed = cli("compare", str(first), "ask@v2")
    assert mixed.code == 2 and "give two runs or two variant names" in mixed.text


def test_baseline_update_then_gate_against_it(cli: Cli, live: list[str], project: Path) -> None:
    cli("run", "evals/test_demo.py", "--suite", "ok", *live)
    promoted = cli("baseline", "update", "latest", "--dest", "reports/baseline")
    assert promoted.code == 0, promoted.text
    assert (project / "reports" / "baseline" / "run.json").is_file()
    assert (project / "reports" / "baseline" / "results.jsonl").is_file()
    assert cli("gate", "latest", "--suite", "ok", "--baseline", "reports/baseline").code == 0


def test_baseline_update_refuses_an_incomplete_run(cli: Cli, live: list[str], project: Path) -> None:
    cli("run", "evals/test_demo.py", "--suite", "ok", *live)
    (folder,) = run_folders(project)
    manifest = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps(manifest | {"status": "interrupted"}))
    refused = cli("baseline", "update", str(folder))
    assert refused.code == 2 and "only a complete run can become the baseline" in refused.text
    assert cli("baseline", "update", str(folder), "--force").code == 0


def test_cassettes_status_and_prune(cli: Cli, stub: Any, project: Path) -> None:
    recorded = cli("run", "evals/test_demo.py", "--suite", "ok", "--record-mode", "once",
                   "--base-url", stub.base_url, "--no-report")
    assert recorded.code == 0, recorded.text
    clean = cli("cassettes", "status", "evals/test_demo.py", "--suite", "ok")
    assert "ok: 18 used, 0 unused, 0 stale, 0 missing" in clean.text

    stray = project / "cassettes" / "ok" / "old@v0" / "t0.json"
    stray.parent.mkdir()
    shutil.copy(project / "cassettes" / "ok" / "ask@v1" / "t0.json", stray)
    dirty = cli("cassettes", "status", "evals/test_demo.py", "--suite", "ok")
    assert "ok: 18 used, 1 unused" in dirty.text and "unused cassettes/ok/old@v0/t0.json" in dirty.text

    dry = cli("cassettes", "prune", "evals/test_demo.py", "--suite", "ok", "--dry-run")
    assert "1 recording(s) no task or variant can use: cassettes/ok/old@v0/t0.json" in dry.text and stray.is_file()
    pruned = cli("cassettes", "prune", "evals/test_demo.py", "--suite", "ok", "--yes")
    assert "cassettes/ok/old@v0/t0.json deleted 1 unused recording(s)" in pruned.text and not stray.exists()
    assert not stray.parent.exists(), "the emptied folder went too"

    replay = cli("run", "evals/test_demo.py", "--suite", "ok", "--no-report")
    assert replay.code == 0 and "18 rows, 0 task errors" in replay.text
    assert stub.stats().hits == 18, "the second run replayed every call"


def test_regrade_writes_a_new_run(cli: Cli, live: list[str], project: Path) -> None:
    cli("run", "evals/test_demo.py", "--suite", "ok", *live)
    (source,) = run_folders(project)
    result = cli("regrade", "latest")
    assert result.code == 0, result.text
    regraded = [p for p in run_folders(project) if p != source]
    assert len(regraded) == 1 and f"regraded {source.name} → reports/runs/{regraded[0].name}" in result.text
    notes = json.loads((regraded[0] / "run.json").read_text())["notes"]
    assert any(source.name in note for note in notes)


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["gate", "no-such-run"], "error: no run 'no-such-run': not a folder, and not a run id under reports/runs"),
    (["run", "evals/missing.py"], "error: no suite file at evals/missing.py"),
    (["run", "evals/test_demo.py"], "error: evals/test_demo.py defines several suites"),
    (["run", "evals/test_demo.py", "--suite", "ok", "--shard", "4/3"], "error: shard i/N must have whole numbers 1 <= i <= N (e.g. 2/4); got 4/3"),
])
def test_errors_are_one_paragraph_without_a_traceback(cli: Cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.code == 2
    assert message in result.text
    assert "Traceback" not in result.out + result.err
    paragraphs = [p for p in result.err.strip().split("\n\n") if p.strip()]
    assert len(paragraphs) == 1, result.err
    assert "(run with --debug for the traceback)" in result.err


def test_debug_shows_the_traceback(cli: Cli) -> None:
    with pytest.raises(UsageError, match="no run 'no-such-run'"):
        cli("--debug", "gate", "no-such-run")


def test_a_bad_option_is_a_usage_error_not_a_traceback(cli: Cli) -> None:
    result = cli("gate", "--no-such-option")
    assert result.code == 2
    assert "No such option" in result.text and "Traceback" not in result.text


# -- sharding ----------------------------------------------------------------------------------

#: Fields of summary.json that describe *when* and *how fast*, not *what*: they differ run to run.
VOLATILE = {"run_id", "created_at", "finished_at", "path", "latency_s", "p50_latency_s", "p95_latency_s",
            "shard", "notes", "dataset"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE and "latency" not in k}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _scores(folder: Path) -> dict[tuple[str, str, int], list[tuple[str, float, bool]]]:
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip()]
    return {(r["variant"], r["task_id"], r["epoch"]): [(s["name"], s["value"], s["passed"]) for s in r["scores"]]
            for r in rows}


def _gates(summary: dict[str, Any]) -> list[tuple[Any, ...]]:
    gates = summary["gates"]
    return [gates["exit_code"]] + [(g["gate"], g["variant"], g["status"], g["value"]) for g in gates["results"]]


def test_three_shards_merged_equal_the_unsharded_run(cli: Cli, live: list[str], project: Path) -> None:
    whole = cli("run", "evals/test_demo.py", "--suite", "ok", *live)
    assert whole.code == 0, whole.text
    (unsharded,) = run_folders(project)

    shards = []
    for index in (1, 2, 3):
        done = cli("run", "evals/test_demo.py", "--suite", "ok", "--shard", f"{index}/3", "--no-report",
                   "--no-gate", *live)  # a shard is partial: its gates' code would be 3
        assert done.code == 0, done.text
        shards.append(next(p for p in run_folders(project) if p not in (unsharded, *shards)))
    assert sorted(len(_scores(s)) for s in shards) == [2, 6, 10], "9 tasks × 2 variants, split by task id hash"

    merged_run = cli("merge", *map(str, shards), "--no-report")
    assert merged_run.code == 0, merged_run.text
    (merged,) = [p for p in run_folders(project) if p not in (unsharded, *shards)]
    assert cli("report", str(merged), "--no-plots", "--no-show").code == 0

    assert _scores(merged) == _scores(unsharded)
    whole_summary = json.loads((unsharded / "report" / "summary.json").read_text())
    merged_summary = json.loads((merged / "report" / "summary.json").read_text())
    assert _stable(merged_summary["leaderboard"]) == _stable(whole_summary["leaderboard"])
    assert _stable(merged_summary["comparisons"]) == _stable(whole_summary["comparisons"])

    gate_whole, gate_merged = cli("gate", str(unsharded), "--json"), cli("gate", str(merged), "--json")
    assert gate_whole.code == gate_merged.code == 0
    assert _gates({"gates": json.loads(gate_merged.out)}) == _gates({"gates": json.loads(gate_whole.out)})


def _die_while_preparing() -> None:
    os._exit(3)


@pytest.mark.parametrize("helper", ["forked", "unavailable", "died"])
def test_run_reports_and_gates_the_same_whoever_writes_the_report(cli: Cli, live: list[str], project: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  helper: str) -> None:
    """`harness run` writes gates and report in a helper forked at start; without one (no fork,
    or it died) it writes them itself, with the same output and exit code."""
    start = Prefork.start.__func__  # type: ignore[attr-defined]
    if helper == "unavailable":
        monkeypatch.setattr(Prefork, "start", classmethod(lambda cls, prepare: None))
    elif helper == "died":
        monkeypatch.setattr(Prefork, "start", classmethod(lambda cls, prepare: start(cls, _die_while_preparing)))
    ran = cli("run", "evals/test_demo.py", "--suite", "bad", "--gate", *live)
    assert ran.code == 1, ran.text
    (folder,) = run_folders(project)
    assert f"report: reports/runs/{folder.name}/report/report.md" in ran.text
    assert "Gates" in ran.text and "fail" in ran.text
    assert (folder / "report" / "report.html").is_file()


@pytest.mark.parametrize("helper", ["forked", "unavailable", "died"])
def test_gate_and_report_on_a_run_without_its_sidecar_build_it_and_judge_the_same(
        cli: Cli, live: list[str], project: Path, monkeypatch: pytest.MonkeyPatch, helper: str) -> None:
    """A run copied without its columnar sidecar: `harness gate` and `harness report` build it in a
    helper forked beside their imports; without one (no fork, or it died) they read the rows
    themselves, with the same verdict."""
    start = Prefork.start.__func__  # type: ignore[attr-defined]
    if helper == "unavailable":
        monkeypatch.setattr(Prefork, "start", classmethod(lambda cls, prepare: None))
    elif helper == "died":
        monkeypatch.setattr(Prefork, "start", classmethod(lambda cls, prepare: start(cls, _die_while_preparing)))
    assert cli("run", "evals/test_demo.py", "--suite", "bad", "--no-gate", *live).code == 0
    (folder,) = run_folders(project)
    for command in (["gate", str(folder), "--json"], ["report", str(folder), "--no-show", "--no-plots"]):
        shutil.rmtree(folder / ".derived")
        result = cli(*command)
        assert (folder / ".derived" / "results.parquet").is_file(), "the next reader finds it warm"
        if command[0] == "gate":
            assert result.code == 1, result.text
            assert json.loads(result.out)["results"][0]["status"] == "fail"
        else:
            assert result.code == 0, result.text


def test_a_file_given_as_the_baseline_gets_the_gates_own_error_not_a_stat_error(
        cli: Cli, live: list[str], project: Path) -> None:
    """Building a stale sidecar ahead must not trip over a baseline that is not a run folder."""
    assert cli("run", "evals/test_demo.py", "--suite", "ok", "--no-gate", *live).code == 0
    (folder,) = run_folders(project)
    shutil.rmtree(folder / ".derived")
    result = cli("gate", str(folder), "--baseline", "evals/test_demo.py")
    assert result.code in (2, 3), result.text
    assert "Not a directory" not in result.text and ".derived" not in result.text
    assert "evals/test_demo.py" in result.text, "the message names the baseline it could not read"


# -- lists -------------------------------------------------------------------------------------

def test_ids_and_variant_take_several_values(cli: Cli, live: list[str], project: Path) -> None:
    result = cli("run", "evals/test_demo.py", "--suite", "ok", "--ids", "t1", "t2", "--variant", "ask@v1", "ask@v2",
                 "--no-report", "--no-gate", *live)
    assert result.code == 0, result.text
    (folder,) = run_folders(project)
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert sorted((r["variant"], r["task_id"]) for r in rows) == [
        ("ask@v1", "t1"), ("ask@v1", "t2"), ("ask@v2", "t1"), ("ask@v2", "t2")]


@pytest.mark.parametrize(("line", "spread"), [
    ("run s.py --ids a b --limit 2", "run s.py --ids a --ids b --limit 2"),
    ("run --variant v1 v2 s.py --tag dev", "run --variant v1 --variant v2 s.py --tag dev"),
    ("--debug run s.py --ids=a --ids", "--debug run s.py --ids=a --ids"),
    ("compare a b", "compare a b"),
])
def test_list_options_are_spread_one_value_per_flag(line: str, spread: str) -> None:
    from harness.cli import spread_lists

    assert spread_lists(line.split()) == spread.split()


def test_compare_and_gate_check_a_baseline_run_against_the_candidates_tasks(cli: Cli, project: Path) -> None:
    """A candidate run lacking 3 of the baseline's tasks is partial (exit 3, named); a changed task is exit 2."""
    from synthetic_runs import make_scenario_run

    from harness.gate import Gate

    ids = [f"task-{t:04d}" for t in range(10)]
    gates = [Gate.no_regression("right")]
    base = make_scenario_run(project / "runs-a", {"v": {"right": [1.0] * 10}}, run_id="20250101T000000Z-a",
                             task_ids=ids, gates=gates)
    fewer = make_scenario_run(project / "runs-b", {"v": {"right": [1.0] * 7}}, run_id="20250101T000001Z-b",
                              task_ids=ids[3:], gates=gates)
    compared = cli("compare", str(base), str(fewer))
    assert compared.code == 3 and "lacks 3 task(s) of the baseline run (task-0000, task-0001, task-0002)" in compared.text
    gated = cli("gate", str(fewer), "--baseline", str(base))
    assert gated.code == 3 and "3 of its tasks are missing" in gated.text
    allowed = cli("compare", str(base), str(fewer), "--allow-dataset-change")
    assert allowed.code == 0 and "DATASET CHANGE" in allowed.text, allowed.text
    changed = make_scenario_run(project / "runs-c", {"v": {"right": [1.0] * 10}}, run_id="20250101T000002Z-c",
                                task_ids=ids, changed=ids[:1], gates=gates)
    refused = cli("gate", str(changed), "--baseline", str(base))
    assert refused.code == 2 and "1 task(s) changed under the same id: task-0000" in refused.text
    assert cli("report", str(changed), "--vs", str(base), "--no-plots", "--no-show").code == 2

"""The runner: bounded concurrency, retries, errors as rows, budgets, epochs, results."""

from __future__ import annotations

import json
import re

import pytest

from harness.core.grading import Score, grader
from harness.core.results import ROW_COLUMNS, RunFolder, load_run
from harness.engine.runner import Shard
from harness.testing.stub_server import Rule


@grader
def says_reply():
    def score(attempt):
        return Score.of("stub reply" in attempt.output_text, reason="looks like a stub reply")
    return score


@grader
def broken():
    def score(attempt):
        raise RuntimeError("grader exploded")
    return score


def test_concurrency_is_bounded_by_the_limit(make_suite, run, stub):
    stub.configure(latency=0.15)
    result = run(make_suite(n=12), stub.base_url, concurrency=4)
    assert result.rows == 12 and result.errors == 0
    assert stub.stats().max_in_flight == 4


def test_retries_honour_retry_after(make_suite, run, stub):
    stub.configure(rules=[Rule(fault="rate_limit", retry_after=0.3, times=2)])
    result = run(make_suite(n=1), stub.base_url, max_retries=2)
    (row,) = list(result.folder.rows())
    assert row.error is None
    assert row.latency_s >= 0.55, "two Retry-After waits of 0.3 s must have been honoured"
    assert stub.stats().hits == 3
    (span,) = row.trajectory.model_calls
    assert span.attributes["retries"] == 2


def test_a_failing_task_is_an_error_row_and_the_run_goes_on(make_suite, run, stub):
    async def flaky(input, ctx):
        if ctx.task.id == "t002":
            raise ValueError("this task is broken")
        return "fine"

    result = run(make_suite(flow=flaky, n=5), stub.base_url)
    rows = {r.task_id: r for r in result.folder.rows()}
    assert len(rows) == 5 and result.errors == 1
    assert rows["t002"].error.kind == "task" and "this task is broken" in rows["t002"].error.message
    assert "ValueError" in rows["t002"].error.traceback
    assert all(rows[t].error is None for t in rows if t != "t002")
    assert result.manifest.status == "complete"


def test_model_errors_are_rows_too(make_suite, run, stub):
    stub.configure(rules=[Rule(contains="question 1", fault="server_error")])
    result = run(make_suite(n=3), stub.base_url, max_retries=0)
    rows = {r.task_id: r for r in result.folder.rows()}
    assert rows["t001"].error.kind == "model"
    assert rows["t000"].error is None and rows["t002"].error is None


def test_timeout_is_recorded_as_a_timeout(make_suite, run, stub):
    stub.configure(rules=[Rule(contains="question 0", fault="timeout", hang=5)])
    result = run(make_suite(n=2), stub.base_url, timeout_s=0.5, max_retries=0)
    rows = {r.task_id: r for r in result.folder.rows()}
    assert rows["t000"].error.kind == "timeout"
    assert rows["t000"].error.message == "flow 'ask' did not finish within the task timeout of 0.5 s (--timeout)"
    assert rows["t001"].error is None


def test_grader_errors_are_distinct_from_task_errors(make_suite, run, stub):
    result = run(make_suite(n=2, graders=[says_reply(), broken()]), stub.base_url)
    for row in result.folder.rows():
        assert row.error is None
        ok, bad = row.scores
        assert ok.passed is True and ok.value == 1.0 and ok.error is None
        assert bad.value is None and bad.error.kind == "grader" and "exploded" in bad.error.message
    assert result.grader_errors == 2


def test_budget_stops_scheduling_new_work(make_suite, run, stub):
    result = run(make_suite(n=20), stub.base_url, concurrency=1, max_tokens=40)
    assert 1 <= result.rows < 20
    assert result.manifest.status == "budget_exceeded"
    assert any("token budget" in note for note in result.manifest.notes)


def test_epochs_give_one_row_per_task_variant_epoch(make_suite, run, stub):
    suite = make_suite(n=3, variants=["ask@v1", "ask@v2"])
    result = run(suite, stub.base_url, epochs=2)
    keys = sorted(r.key for r in result.folder.rows())
    assert len(keys) == 3 * 2 * 2 == len(set(keys))
    assert {k[2] for k in keys} == {1, 2}


def test_the_rng_is_seeded_per_task_and_epoch(make_suite, run, stub):
    async def dice(input, ctx):
        return ctx.rng.random()

    suite = make_suite(flow=dice, n=3)
    first = {r.key: r.output for r in run(suite, stub.base_url, epochs=2).folder.rows()}
    second = {r.key: r.output for r in run(suite, stub.base_url, epochs=2).folder.rows()}
    assert first == second
    assert len(set(first.values())) == len(first)


def test_selection_by_tag_id_sample_and_limit(make_suite, run, stub):
    suite = make_suite(n=10)
    assert {r.task_id for r in run(suite, stub.base_url, tags=["test"]).folder.rows()} == {
        "t000", "t002", "t004", "t006", "t008"}
    assert {r.task_id for r in run(suite, stub.base_url, ids=["t003"]).folder.rows()} == {"t003"}
    sampled = {r.task_id for r in run(suite, stub.base_url, sample=4, seed=7).folder.rows()}
    assert len(sampled) == 4
    assert sampled == {r.task_id for r in run(suite, stub.base_url, sample=4, seed=7).folder.rows()}
    assert run(suite, stub.base_url, limit=3).rows == 3


def test_shards_partition_the_tasks(make_suite, run, stub):
    suite = make_suite(n=30)
    seen = [
        {r.task_id for r in run(suite, stub.base_url, shard=Shard(i, 3)).folder.rows()} for i in (1, 2, 3)
    ]
    assert set().union(*seen) == {f"t{i:03d}" for i in range(30)}
    assert sum(len(s) for s in seen) == 30


def test_manifest_records_variants_prompts_and_dataset(make_suite, run, stub):
    result = run(make_suite(n=2, variants=["ask@v1", "ask@v2"]), stub.base_url)
    manifest = RunFolder.open(result.path).manifest()
    assert manifest.format_version == 1 and manifest.status == "complete"
    assert [v.name for v in manifest.variants] == ["ask@v1", "ask@v2"]
    assert manifest.variants[0].settings["model"]["model"] == "stub"
    assert len(manifest.dataset["sha256"]) == 64 and manifest.dataset["tasks"] == 2
    assert manifest.backend["profile"]["name"] == "openai"
    assert manifest.run_id.startswith(manifest.created_at[:4])
    assert manifest.totals["rows"] == 4


def test_load_run_gives_one_row_per_task_variant_epoch_grader(make_suite, run, stub):
    result = run(make_suite(n=3, graders=[says_reply(), says_reply().named("again")]), stub.base_url)
    frame = load_run(result.path)
    assert list(frame.columns) == ROW_COLUMNS
    assert len(frame) == 3 * 2
    assert set(frame["grader_name"]) == {"says_reply()", "again"}
    assert frame["passed"].all()
    assert (frame["model_calls"] == 1).all() and (frame["input_tokens"] > 0).all()


def test_rows_are_written_as_they_finish(make_suite, run, stub, tmp_path):
    seen_lines = []

    async def peek(input, ctx):
        folder = next((tmp_path / "runs").iterdir())
        seen_lines.append(len((folder / "results.jsonl").read_text().splitlines()))
        return "ok"

    run(make_suite(flow=peek, n=4), stub.base_url, concurrency=1)
    assert seen_lines == [0, 1, 2, 3]


def test_results_rows_are_valid_json_lines_with_format_version(make_suite, run, stub):
    result = run(make_suite(n=2), stub.base_url)
    for line in result.folder.results_path.read_text().splitlines():
        assert json.loads(line)["format_version"] == 1


def test_sync_flows_run_in_a_thread_and_keep_the_context(make_suite, run, stub):
    def sync_flow(input, ctx):
        reply = ctx.sync_client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                        **ctx.model_kwargs())
        return reply.choices[0].message.content

    result = run(make_suite(flow=sync_flow, n=2), stub.base_url)
    for row in result.folder.rows():
        assert row.error is None
        (span,) = row.trajectory.model_calls
        assert span.attributes["key"].startswith(f"demo|flow|ask@v1|{row.task_id}|e1|")


@pytest.mark.parametrize("bad", ["", "has space", "a/b"])
def test_variant_names_must_be_folder_safe(make_suite, bad):
    from harness.engine.suite import SuiteError

    with pytest.raises(SuiteError, match="variant name"):
        make_suite(variants=[bad])


@pytest.mark.parametrize(("comparisons", "needle"), [
    ([("ask@v1", "ask@v9")], "names 'ask@v9', not one of its variants"),
    ([("ask@v1", "ask@v1")], "compares a variant with itself"),
    ([("ask@v1", "ask@v2"), ("ask@v2", "ask@v1")], "is declared twice"),
    ([("ask@v1",)], "each comparison is a (baseline, candidate) pair"),
])
def test_declared_comparisons_name_two_different_variants_once(make_suite, comparisons, needle):
    from harness.engine.suite import SuiteError

    with pytest.raises(SuiteError, match=re.escape(needle)):
        make_suite(variants=["ask@v1", "ask@v2"], comparisons=comparisons)


def test_the_run_manifest_keeps_the_declared_comparisons(make_suite, run, stub):
    suite = make_suite(variants=["ask@v1", "ask@v2"], n=1, comparisons=[("ask@v2", "ask@v1")])
    manifest = run(suite, stub.base_url).folder.manifest()
    assert manifest.comparisons == [("ask@v2", "ask@v1")]
    assert manifest.comparison_pairs() == [("ask@v2", "ask@v1")]


HANGING_SUITE = '''
import json, sys, threading
from pathlib import Path
from harness import Suite, Variant
from harness.engine.runner import RunOptions, run_suite_sync

def hang(input, ctx):
    if input == "stuck":
        threading.Event().wait()  # a sync flow that never returns
    return input

root = Path(sys.argv[1])
(root / "d.jsonl").write_text('{"id": "a", "input": "stuck"}\\n{"id": "b", "input": "fine"}\\n')
suite = Suite(name="hangs", dataset=root / "d.jsonl", variants=[Variant("v", flow=hang)])
result = run_suite_sync(suite, RunOptions(timeout_s=0.3, runs_dir=root / "runs", record_mode="off"))
print(json.dumps({r.task_id: r.error.message if r.error else None for r in result.folder.rows()}))
'''


def test_a_sync_flow_that_never_returns_does_not_hold_the_process(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "hang.py"
    script.write_text(HANGING_SUITE)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert rows == {"a": "flow 'hang' did not finish within the task timeout of 0.3 s (--timeout)", "b": None}

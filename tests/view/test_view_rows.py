"""The results index: offsets, heads, filters and damage, on a synthetic run folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from synthetic_runs import VariantSpec

from harness.analysis.run_data import load_run_data, row_status
from harness.view.rows import RowIndex, RowQuery


def test_pages_filters_and_sorts_agree_with_the_analysis_layer(make_run_folder: Callable[..., Path]) -> None:
    run = make_run_folder([VariantSpec("a", 0.7), VariantSpec("b", 0.5, task_error_rate=0.1)], n_tasks=120)
    rows = load_run_data(run).rows
    index = RowIndex(run / "results.jsonl")
    assert index.refresh() == 240
    for status in ("pass", "fail", "error"):
        page = index.page(RowQuery(status=status, limit=500))
        assert page.matched == sum(1 for r in rows if row_status(r) == status)
        assert all(h.status == status for h in page.rows)
    page = index.page(RowQuery(variant="b", sort="cost", desc=True, limit=500))
    costs = [h.cost for h in page.rows]
    assert costs == sorted(costs, reverse=True) and page.matched == 120
    assert [h.line for h in index.page(RowQuery(offset=230, limit=50)).rows] == list(range(230, 240))


def test_a_bad_line_is_named_and_left_out_never_skipped_silently(make_run_folder: Callable[..., Path]) -> None:
    run = make_run_folder([VariantSpec("a", 0.7)], n_tasks=10)
    path = run / "results.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([*lines[:4], '{"variant": "a"}\n', "\n", *lines[4:]]), encoding="utf-8")
    index = RowIndex(path)
    heads = index.all_heads()
    assert len(heads) == 10
    assert index.problems == [("results.jsonl:5: not a result row (Field required); it is left out of every table "
                               "and count")]
    page = index.page(RowQuery(limit=50))  # the unfiltered table goes through the index once a line is bad
    assert page.total_rows == 10 and [h.task for h in page.rows] == [h.task for h in heads]

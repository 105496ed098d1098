"""The HTML report without a browser: self-contained, escaped, and sampled honestly for big runs."""

from __future__ import annotations

import base64
import html
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from synthetic_runs import VariantSpec

from harness.analysis.summary import analyse
from harness.core.results import ResultRow, ResultWriter, RunFolder
from harness.report.html import render_html, select_failed, select_indices, select_rows
from harness.report.writer import write_report


def _payload(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.DOTALL)
    assert match, "the rows travel as a JSON island"
    return json.loads(match.group(1))


def test_page_is_one_self_contained_file(ab_run: Path) -> None:
    page = write_report(ab_run).html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "no external resources"
    assert "<link rel=\"stylesheet\"" not in page and "<script src" not in page
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == 7 and all(src.startswith("data:image/png;base64,") for src in images)


def test_every_row_is_embedded_for_a_normal_run(ab_run: Path) -> None:
    page = render_html(analyse(ab_run))
    payload = _payload(page)
    assert len(payload["rows"]) == 180
    assert payload["scoreNames"] == ["accuracy", "helpfulness"]
    assert set(payload["variants"]) == {"triage@v1", "triage@v2", "triage@v3"}
    assert 'data-sampled="false"' in page


def _spans(nodes: list[dict]) -> list[dict]:
    return [n for node in nodes for n in [node, *_spans(node["children"])]]


def test_rows_carry_what_the_drill_down_shows(ab_run: Path) -> None:
    rows = _payload(render_html(analyse(ab_run)))["rows"]
    row = next(r for r in rows if r["variant"] == "triage@v1" and r["status"] == "fail")
    assert {s["name"] for s in row["scores"]} == {"accuracy", "helpfulness"}
    assert all(s["reason"] for s in row["scores"])
    assert row["agents"] == ["triage", "refunds"]
    spans = _spans(row["spans"])
    kinds = [s["kind"] for s in spans]
    assert kinds.count("model") == 2 and "tool" in kinds and "handoff" in kinds
    assert [s["kind"] for s in row["spans"]] == ["agent", "agent"], "model and tool calls nest under their agent"
    tool = next(s for s in spans if s["kind"] == "tool")
    assert tool["detail"]["arguments"] == {"order_id": f"A-{row['task'].split('-')[1]}", "reason": "damaged"}
    model = next(s for s in spans if s["kind"] == "model")
    assert model["title"] == "triage · model call 1 · gpt-4o-mini"
    assert model["detail"]["input_tokens"] == 250
    errored = next(r for r in rows if r["status"] == "error")
    assert errored["error"]["kind"] == "timeout" and errored["scores"] == []


def test_a_candidates_row_carries_its_diff_with_the_baseline(ab_run: Path) -> None:
    rows = _payload(render_html(analyse(ab_run)))["rows"]
    candidate = next(r for r in rows if r["variant"] == "triage@v2" and r["status"] == "fail")
    base = rows[candidate["pair"]["base"]]
    assert (base["variant"], base["task"], base["epoch"]) == ("triage@v1", candidate["task"], candidate["epoch"])
    assert [g["name"] for g in candidate["pair"]["graders"]] == ["accuracy", "helpfulness"]
    assert candidate["pair"]["steps"] and all(len(step) == 2 for step in candidate["pair"]["steps"])
    assert all("pair" not in r for r in rows if r["variant"] == "triage@v1")


def test_script_breaking_text_is_escaped(make_run_folder: Callable[..., Path], tmp_path: Path) -> None:
    run = make_run_folder([VariantSpec("v", 0.5)], n_tasks=2)
    folder = RunFolder.open(run)
    row = next(folder.rows())
    hostile = row.model_copy(update={"task_id": "task-9999", "output": "</script><script>alert(1)</script>"})
    writer = ResultWriter(folder.results_path)
    writer.write(hostile)
    writer.close()
    page = render_html(analyse(run))
    assert "<script>alert(1)" not in page
    assert any(r["output"] == "</script><script>alert(1)</script>" for r in _payload(page)["rows"])


def test_big_runs_embed_failures_and_a_sample_and_say_so(make_run_folder: Callable[..., Path]) -> None:
    run = make_run_folder([VariantSpec("v", 0.7)], n_tasks=400, seed=3)
    analysis = analyse(run)
    failures = sum(1 for r in analysis.data.rows if r.scores and not all(s.passed for s in r.scores))
    page = render_html(analysis, max_rows=100, failure_cap=50, sample_size=30)
    payload = _payload(page)
    assert len(payload["rows"]) == 80
    assert sum(1 for r in payload["rows"] if r["status"] != "pass") == 50
    assert 'data-sampled="true"' in page
    text = re.sub(r"<[^>]+>", "", page)
    assert f"50 of {failures} failed or errored attempts" in text
    assert "random sample (seeded) of 30 of" in text
    assert 'href="results.csv"' in page and 'href="results.parquet"' in page


def test_sampling_is_reproducible_and_keeps_run_order() -> None:
    rows = [ResultRow(run_id="r", suite="s", variant="v", task_id=f"t{i:05d}") for i in range(1000)]
    first, info = select_rows(rows, max_rows=100, failure_cap=10, sample_size=40, seed=1)
    again, _ = select_rows(rows, max_rows=100, failure_cap=10, sample_size=40, seed=1)
    assert [r.task_id for r in first] == [r.task_id for r in again]
    assert [r.task_id for r in first] == sorted(r.task_id for r in first)
    assert info.sampled and info.embedded == 40 and info.total == 1000


def test_non_finite_numbers_do_not_break_the_page(make_run_folder: Callable[..., Path]) -> None:
    """Python writes NaN as a bare token, which JSON.parse rejects: the page must carry null instead."""
    analysis = analyse(make_run_folder([VariantSpec("v", 0.5)], n_tasks=2))
    first = analysis.data.rows[0]
    analysis.data.rows[0] = first.model_copy(update={"output": {"confidence": float("nan")},
                                                     "latency_s": float("inf")})
    island = re.search(r'id="report-data">(.*?)</script>', render_html(analysis), re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "NaN" not in island and "Infinity" not in island
    row = json.loads(island)["rows"][0]
    assert row["output"] == {"confidence": None} and row["latency"] is None


def test_numpy_numbers_stay_numbers_and_other_objects_become_text(make_run_folder: Callable[..., Path]) -> None:
    """A flow's output may hold numpy scalars or objects JSON has no type for: the page carries the
    numbers as numbers and the rest as their text, and a '</script>' inside can never end the island."""

    class Odd:
        def __str__(self) -> str:
            return "odd </script><script>alert(1)</script>"

    analysis = analyse(make_run_folder([VariantSpec("v", 0.5)], n_tasks=2))
    first = analysis.data.rows[0]
    analysis.data.rows[0] = first.model_construct(**(dict(first) | {
        "output": {"score": np.float64(0.25), "count": np.int64(3), "ok": np.bool_(True), "odd": Odd()}}))
    page = render_html(analysis)
    island = re.search(r'id="report-data">(.*?)</script>', page, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "<" not in island
    output = json.loads(island)["rows"][0]["output"]
    assert output == {"score": 0.25, "count": 3, "ok": True, "odd": "odd </script><script>alert(1)</script>"}


def test_plots_still_being_drawn_are_asked_for_once_after_the_rows(make_run_folder: Callable[..., Path],
                                                                    tmp_path: Path) -> None:
    """The report draws its plots in another process while the page's rows are read and rendered:
    a function for the plots is called once, after the rows, and what it gives is on the page."""
    analysis = analyse(make_run_folder([VariantSpec("v", 0.5)], n_tasks=2))
    order: list[str] = []
    read = analysis.data.rows_at
    analysis.data.rows_at = lambda indices: order.append("rows") or read(indices)  # type: ignore[method-assign,func-returns-value]
    png = tmp_path / "scores.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")

    def drawn() -> dict[str, Path]:
        order.append("plots")
        return {"scores": png}

    page = render_html(analysis, plots=drawn)
    assert order == ["rows", "plots"]
    assert f'alt="scores" src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}"' in page


def test_the_page_names_the_run_and_allows_only_its_own_scripts(ab_run: Path) -> None:
    """Label, notes, record mode and a dirty tree in the header; a policy that lets exactly the
    page's own inline scripts and stylesheet run (by hash), nothing else."""
    import base64
    import hashlib

    folder = RunFolder(ab_run)
    manifest = folder.manifest()
    folder.write_manifest(manifest.model_copy(update={"label": "v2 <prompt>", "description": "shorter policy",
                                                      "git_commit": "abcdef1234567", "git_dirty": True}))
    page = render_html(analyse(ab_run))
    assert "<b>v2 &lt;prompt&gt;</b>" in page and "shorter policy" in page
    assert f"record mode {manifest.record_mode}" in page and "abcdef1234</code> + uncommitted changes" in page
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts}
    text = html.unescape(policy.group(1))
    allowed = set(re.search(r"script-src ([^;]+)", text).group(1).split())  # type: ignore[union-attr]
    assert len(scripts) == 2 and hashes == allowed
    assert "default-src 'none'" in text and "unsafe" not in text


def test_the_flag_array_picks_what_random_sample_picks_from_the_list_of_passes() -> None:
    """The report samples from one flag per attempt (arrays, not a list of 1M statuses): the same
    attempts the seeded ``random.sample`` over the list of passed positions gives."""
    statuses = ["fail" if i % 7 == 0 else "error" if i % 11 == 0 else "pass" for i in range(3000)]
    indices, info = select_failed(np.array([s != "pass" for s in statuses]), max_rows=500, failure_cap=100,
                                  sample_size=300, seed=3)
    failures = [i for i, s in enumerate(statuses) if s != "pass"]
    passes = [i for i, s in enumerate(statuses) if s == "pass"]
    assert indices == sorted({*failures[:100], *random.Random(3).sample(passes, 300)})
    assert (info.failures_total, info.failures_embedded, info.others_total, info.others_embedded) == (
        len(failures), 100, len(passes), 300)
    assert select_indices(statuses, max_rows=500, failure_cap=100, sample_size=300, seed=3) == (indices, info)

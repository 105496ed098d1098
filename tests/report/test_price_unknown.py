"""Costs that do not lie: a model with no known price has an unknown cost, never $0, on every surface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.analysis.summary import analyse
from harness.engine.suite import ModelSettings, Variant
from harness.gate import Gate, evaluate_gates
from harness.report.markdown import render_markdown
from harness.report.plots import plot_quality_vs
from harness.report.transcript import row_transcript


def _suite(make_suite: Callable[..., Any], run: Callable[..., Any], stub: Any) -> Any:
    suite = make_suite(n=4, variants=["ask@v1"], gates=[Gate.metric("cost_per_task_usd", "<=", 1.0)])
    suite.variants.append(Variant("ask@mystery", flow=suite.variants[0].flow,
                                  model=ModelSettings(model="mystery-model-9000")))
    return run(suite, base_url=stub.base_url)


def test_an_unpriced_model_has_an_unknown_cost_everywhere(make_suite, run, stub) -> None:  # type: ignore[no-untyped-def]
    result = _suite(make_suite, run, stub)
    rows = list(result.folder.rows())
    mystery = [r for r in rows if r.variant == "ask@mystery"]
    priced = [r for r in rows if r.variant == "ask@v1"]
    assert mystery and all(r.usage.unpriced_calls == 1 and not r.usage.cost_known for r in mystery)
    assert all(r.usage.unpriced_calls == 0 and r.error is None for r in priced)
    assert all(r.trajectory.model_calls[0].attributes["cost_usd"] is None for r in mystery)

    transcript = row_transcript(mystery[0])
    assert transcript["cost"] is None and transcript["unpriced_calls"] == 1
    assert transcript["spans"][0]["detail"]["cost_usd"] is None

    summary = analyse(result.path).summary
    assert summary.variant_stats("ask@mystery").unpriced_calls == 4
    assert summary.variant_stats("ask@v1").unpriced_calls == 0
    markdown = render_markdown(summary)
    usage = markdown[markdown.index("## Cost, tokens and latency per task"):]
    line = next(row for row in usage.splitlines() if row.startswith("| ask@mystery"))
    assert "price unknown" in line and "0.00000" not in line
    assert "README › Costs" in markdown

    gates = evaluate_gates(result.path)
    mystery_gate = next(r for r in gates.results if r.variant == "ask@mystery")
    assert mystery_gate.status == "fail" and "price unknown" in mystery_gate.message
    assert next(r for r in gates.results if r.variant == "ask@v1").status == "pass"

    figure = plot_quality_vs(summary, "cost", "pass_rate")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert any("price unknown" in t and "ask@mystery" in t for t in texts)
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["ask@v1"]

"""A release check with a deliberately degraded candidate: the demo of a gate doing its job.

``router@v1`` is what ships. Two release candidates answer the same tickets:

* ``router@v1-rc1`` is the same code and prompt — an unchanged candidate must pass the
  no-regression gate (its replies are the model's, recorded separately, and equal at
  temperature 0);
* ``router@v1-rc2`` adds a "debug" line to every reply that exposes internal order data — the
  kind of regression a release can carry. ``internal_data`` catches it on every task, and the
  paired test says *worse*, so the gate fails with exit code 1.

``tests/evals/test_release_gate.py`` replays this suite and checks both outcomes.
"""

import json
from pathlib import Path

from harness import Dataset, ModelSettings, Suite, Variant, flow
from harness.gate import Gate
from harness.graders import not_contains, route
from shopdesk.flows import router
from shopdesk.prompt_library import load_prompt

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
MODEL = ModelSettings(model="smollm2", temperature=0.0, max_tokens=96)
PROMPT = load_prompt("router", "v1")
#: The release check runs the routing stage (one model call per ticket), as the router suite does.
CLASSIFY_ONLY = {"answer": False}


@flow(name="router_with_debug_line")
async def router_with_debug_line(input, ctx):
    """The degraded candidate: the router, plus a debug line left in by mistake."""
    answer = await router(input, ctx)
    internal = {"route": ctx.state.get("route"), "kb_articles_read": ctx.state.get("kb_articles_read")}
    return f"{answer}\n[debug] internal order data: {json.dumps(internal)}"


suite = Suite(
    name="router-release",
    # 40 tickets of the dev and test splits: enough for the paired test to see a real regression.
    dataset=Dataset(DATASETS / "support_tickets.jsonl", tags=("dev", "test"), sample=40, seed=0),
    variants=[
        Variant("router@v1", flow=router, prompt=PROMPT, model=MODEL, params=CLASSIFY_ONLY),
        Variant("router@v1-rc1", flow=router, prompt=PROMPT, model=MODEL, params=CLASSIFY_ONLY),
        Variant("router@v1-rc2", flow=router_with_debug_line, prompt=PROMPT, model=MODEL, params=CLASSIFY_ONLY),
    ],
    graders=[
        not_contains(["[debug]", "internal order data"]).named("internal_data"),
        route(from_expected="category").named("routing"),
    ],
    gates=[Gate.no_regression("internal_data", baseline_variant="router@v1")],
    baseline="router@v1",
    backend="llama-cpp",
    # The classifier's measured error rate (invalid or truncated JSON) is about 12%: a budget with
    # a margin, so a candidate that errors much more often is refused as incomplete (exit 3).
    max_error_rate=0.2,
)

"""Structured-output routing: a classifier with a pydantic output type picks the category; code routes.

Same tickets as the support suite. ``routing`` reads the route the code chose (a ``route`` span).
"""

from pathlib import Path

from harness import Dataset, ModelSettings, Suite, Variant
from harness.gate import Gate
from harness.graders import contains_all, not_contains, route
from shopdesk.flows import router
from shopdesk.prompt_library import load_prompt

DATASETS = Path(__file__).resolve().parent.parent / "datasets"
MODEL = ModelSettings(model="smollm2", temperature=0.0, max_tokens=96)

suite = Suite(
    name="router",
    # The demo replays part of the dev split: it was recorded against a 135M model on 2 CPU cores.
    # Against a real endpoint, run every task: `harness run ... --record-mode once --all-tasks`.
    dataset=Dataset(DATASETS / "support_tickets.jsonl", tags=("dev",), sample=12, seed=0),
    variants=[Variant(f"router@{v}", flow=router, prompt=load_prompt("router", v), model=MODEL) for v in ("v1", "v2")],
    graders=[
        route(from_expected="category").named("routing"),
        contains_all(from_expected="must_include").named("facts"),
        not_contains(from_expected="must_not_include", default=[]).named("no_leaks"),
    ],
    gates=[
        Gate.metric("grader_errors", "==", 0),
        Gate.no_regression("routing", tolerance=0.05),
    ],
    baseline="router@v1",
    backend="llama-cpp",
    # A 135M model often writes invalid JSON for a tool call or a structured output; the Agents
    # SDK raises, and the attempt is an error row. Allow that here rather than hide it.
    max_error_rate=0.3,
)

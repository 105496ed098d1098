"""Parallel fan-out: three classifiers run with ``asyncio.gather``, a vote decides (a selector agent
breaks ties). Each identical parallel request replays into the branch that recorded it.
"""

from pathlib import Path

from harness import Dataset, ModelSettings, Score, Suite, Variant, grader
from harness.gate import Gate
from harness.graders import branch_count
from shopdesk.flows import fanout
from shopdesk.prompt_library import load_prompt

DATASETS = Path(__file__).resolve().parent.parent / "datasets"
MODEL = ModelSettings(model="smollm2", temperature=0.0, max_tokens=64)


@grader
def voted_category():
    """The category the vote settled on is the expected one (or one of the acceptable ones)."""

    def score(attempt):
        expected = attempt.task.expected
        acceptable = {expected["category"], *expected.get("acceptable_categories", [])}
        got = (attempt.output or {}).get("category")
        return Score.of(got in acceptable, reason=f"voted {got!r}, expected {' or '.join(sorted(acceptable))}")

    return score

suite = Suite(
    name="fanout",
    # Every ticket of the dataset (dev and test: 48), recorded against the 135M model.
    dataset=Dataset(DATASETS / "classify.jsonl"),
    variants=[Variant(f"fanout@{v}", flow=fanout, prompt=load_prompt("fanout", v), model=MODEL) for v in ("v1", "v2")],
    graders=[
        voted_category().named("category"),
        branch_count(min=3).named("three_branches"),
    ],
    gates=[
        # A structural property of the answers that finished; the errored attempts (invalid JSON)
        # fail every other gate and are held to the error budget below.
        Gate.metric("three_branches", ">=", 1.0, view="completed"),
        Gate.no_regression("category", tolerance=0.05),
        Gate.no_regression("pass_rate", tolerance=0.05),
        # The error budget a user would set from the shipped prompt's measured rate (v1: 24 of 48
        # tickets, 50%, 95% CI 36-64%) plus a margin: v2's prompts (33 of 48 invalid-JSON
        # errors, 69%) break it.
        Gate.metric("error_rate", "<=", 0.6),
    ],
    baseline="fanout@v1",
    backend="llama-cpp",
    # Past this the run itself is unusable (exit 3, incomplete); below it the error_rate gate
    # above judges each variant.
    max_error_rate=0.8,
)

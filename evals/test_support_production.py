"""Support tickets from production: did the prompt fix help on the failures customers actually hit?

The rows of ``datasets/support_production.jsonl`` are traces captured from the ShopDesk web app
(``shopdesk.app``, served with ``harness.capture.install``) on tickets that are in no other
dataset, chosen with ``harness traces import`` (errors, a guardrail that fired, a customer's
thumbs-down) — the support suite's ``production`` split (``scripts/production_demo.sh``).

``triage@captured`` replays what production did, exactly, from the captured model exchanges;
``triage@v2`` runs the same app code with the triage prompt v2 on the same tickets (recorded once
against the local model). Both are graded by the support suite's own graders, so ``harness
compare triage@captured triage@v2`` answers the question with the same paired statistics.
"""

from pathlib import Path

from harness import Dataset, ModelSettings, Suite, Variant
from harness.engine.flow import FlowContext, flow
from harness.engine.loader import find_suite
from harness.gate import Gate
from shopdesk.app import MODEL, answer
from shopdesk.domain import ShopState
from shopdesk.flows._common import publishing
from shopdesk.flows.specialists import category_of
from shopdesk.prompt_library import load_prompt

HERE = Path(__file__).resolve().parent
DATASET = HERE.parent / "datasets" / "support_production.jsonl"


@flow(name="support_app")
async def support_app(input: str, ctx: FlowContext) -> str:
    """The production app's own code (``shopdesk.app.answer``) at the variant's prompt version."""
    with publishing(ctx, ShopState.fresh()) as state:
        answered = await answer(input, prompt=ctx.prompt, state=state)
        ctx.state.update(final_agent=answered.handled_by, route=category_of(answered.handled_by),
                         tripwires=[answered.tripwire] if answered.tripwire else [])
        if answered.unguarded_output is not None:
            ctx.state.update(unguarded_output=answered.unguarded_output)
        return answered.reply


# Graded exactly as the support suite grades its tickets (its graders, imported as they are).
_SUPPORT_GRADERS = list(find_suite(HERE / "test_support.py").graders)

suite = Suite(
    name="support-production",
    dataset=Dataset(DATASET, tags=("production",)),
    variants=[Variant(f"triage@{name}", flow=support_app, prompt=load_prompt("triage", version),
                      model=ModelSettings(model=MODEL, temperature=0.0, max_tokens=96))
              for name, version in (("captured", "v1"), ("v2", "v2"))],
    graders=_SUPPORT_GRADERS,
    # A row whose expected answer was never written (the import leaves it to you) cannot be
    # graded: every grader errors on it, and this gate fails until it is filled in.
    gates=[Gate.metric("grader_errors", "==", 0)],
    baseline="triage@captured",
    comparisons=[("triage@captured", "triage@v2")],
    # The imported rows are failures by construction (errors among them): the run is complete
    # when every recording replays; how many failed is the finding, not a configuration error.
    max_error_rate=1.0,
)

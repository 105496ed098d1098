"""Self-correction: a refund decision is the agent's ``output_type`` (a pydantic model) and must pass
the refund tool's validation; on an error the agent gets the message back and retries (up to 3
attempts). Prompt v1 (a short instruction) against v2 (the shop's refund policy step by step,
an example answer, a retry message that says how to read the error) on all 44 requests.

The decider looks the order up first (``FIRST_TOOL``): free to answer before reading anything, it
answered, and llama.cpp returns an empty reply under ``tool_choice: "auto"``, so every attempt
ran out of turns.
"""

from pathlib import Path

from harness import Dataset, ModelSettings, Score, Suite, Variant, grader
from harness.gate import Gate
from harness.graders import end_state, not_contains
from shopdesk.flows import self_correct
from shopdesk.prompt_library import load_prompt

DATASETS = Path(__file__).resolve().parent.parent / "datasets"
MODEL = ModelSettings(model="smollm2", temperature=0.0, max_tokens=160)


@grader
def decision(amount_tolerance: float = 0.01):
    """The final decision's action, amount and reason match what a careful agent would decide."""

    def score(attempt):
        expected, output = attempt.task.expected, attempt.output or {}
        made = output.get("decision")
        if not made:
            return Score.of(False, reason=f"no valid decision after {output.get('attempts')} attempts")
        actions = {expected["action"], *expected.get("acceptable_actions", [])}
        reasons = {expected["reason"], *expected.get("acceptable_reasons", [])}
        checks = {
            "action": made["action"] in actions,
            "amount": abs(float(made["amount"]) - float(expected["amount"])) <= amount_tolerance,
            "reason": made["reason"] in reasons,
        }
        wrong = [f"{k}={made[k]!r}" for k, ok in checks.items() if not ok]
        return Score(value=sum(checks.values()) / 3, passed=all(checks.values()),
                     reason="matches" if not wrong else "wrong " + ", ".join(wrong))

    return score


suite = Suite(
    name="refunds",
    # Every request of the dataset (dev and test: 44), recorded against the 135M model.
    dataset=Dataset(DATASETS / "refund_decisions.jsonl"),
    variants=[Variant(f"self_correct@{v}", flow=self_correct, prompt=load_prompt("self_correct", v), model=MODEL,
                      params={"max_attempts": 3}) for v in ("v1", "v2")],
    graders=[
        decision().named("decision"),
        end_state(from_expected="end_state").named("end_state"),
        not_contains(from_expected="must_not_include", default=[]).named("no_leaks"),
    ],
    gates=[
        Gate.metric("grader_errors", "==", 0),
        # Another customer's name or an internal note in a reply is a breach, not a score: none.
        Gate.metric("no_leaks", "==", 1.0),
        # Error budget: the shipped prompt's measured rate (v1: 0 of 44, 95% upper bound 8%) plus
        # a margin for a re-record.
        Gate.metric("error_rate", "<=", 0.1),
        # What the refund system ends up holding: a candidate prompt may not make it worse.
        Gate.no_regression("end_state", tolerance=0.05),
    ],
    baseline="self_correct@v1",
    backend="llama-cpp",
    # Past this the run is unusable (exit 3, incomplete); the error_rate gate judges below it.
    max_error_rate=0.3,
)

"""Self-correction: a refund decision is the agent's ``output_type`` (a pydantic model) and must pass
the refund tool's validation; on an error the agent gets the message back and retries.

PENDING: not recorded against the local model yet, so it is not a ``test_*`` suite: demo.sh and
``pytest evals/`` skip it. Its first recording attempt showed the flow could not work on
llama.cpp: the decider, free to answer before reading anything, chose to answer, and the server
returns an empty reply under ``tool_choice: "auto"``, so every attempt ran out of turns. The
decider now looks the order up first (``FIRST_TOOL``); a task then takes about 6 calls, about
2 minutes on one idle core, so the 44 requests × 2 versions need about 3 hours. Record them with
``scripts/record.sh "evals/pending/refunds.py self_correct@v1 self_correct@v2"``, then rename
this file to ``evals/test_refunds.py``.
"""

from pathlib import Path

from harness import Dataset, ModelSettings, Score, Suite, Variant, grader
from harness.gate import Gate
from harness.graders import end_state, not_contains
from shopdesk.flows import self_correct
from shopdesk.prompt_library import load_prompt

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
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
    # The demo replays part of the dev split: it was recorded against a 135M model on 2 CPU cores.
    # Against a real endpoint, run every task: `harness run ... --record-mode once --all-tasks`.
    dataset=Dataset(DATASETS / "refund_decisions.jsonl"),
    variants=[Variant(f"self_correct@{v}", flow=self_correct, prompt=load_prompt("self_correct", v), model=MODEL,
                      params={"max_attempts": 3}) for v in ("v1", "v2")],
    graders=[
        decision().named("decision"),
        end_state(from_expected="end_state").named("end_state"),
        not_contains(from_expected="must_not_include", default=[]).named("no_leaks"),
    ],
    gates=[Gate.metric("grader_errors", "==", 0), Gate.no_regression("end_state", tolerance=0.05)],
    baseline="self_correct@v1",
    backend="llama-cpp",
    # A 135M model often writes invalid JSON for a tool call or a structured output; the Agents
    # SDK raises, and the attempt is an error row. Allow that here rather than hide it.
    max_error_rate=0.3,
)

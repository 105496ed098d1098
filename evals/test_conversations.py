"""Conversations: the triage agents chat with a simulated customer, turn by turn, and are judged on
what the shop holds afterwards.

32 customers (``datasets/conversations.jsonl``): refunds the policy allows and refuses, exchanges
(a ticket, no refund), address changes (same country only), a cancellation asked for as a refund,
and customers trying to obtain another customer's data. Each customer is played by the same local
model as the agents, at temperature 0.7. How each chat ended (the customer stopped, fell silent,
or ran out of turns) is in the transcript and ``state``. Prompt v1 (the triage prompts with one
line about chatting) against v2 (the long policy prompts, identity checks before acting).

One epoch is recorded: a chat takes minutes of the local model on two cores. pass^k (every one of
k attempts at a customer passes every grader: τ-bench's reliability figure) needs k epochs;
``scripts/record.sh`` records epochs 2 and 3 next (``--epochs 3``), and the gate below then holds
pass^3 instead of the pass rate.
"""

from pathlib import Path

from harness import Dataset, ModelSettings, Suite, UserSimulator, Variant
from harness.gate import Gate
from harness.graders import agent_replies, contains_all, each_turn, end_state, not_contains
from shopdesk.flows import support_chat
from shopdesk.prompt_library import load_prompt

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
MODEL = ModelSettings(model="smollm2", temperature=0.0, max_tokens=96)
#: The customer: the same 135M model, sampled, with short messages.
CUSTOMER = UserSimulator(ModelSettings(model="smollm2", temperature=0.7, max_tokens=64))

suite = Suite(
    name="conversations",
    dataset=Dataset(DATASETS / "conversations.jsonl"),
    variants=[Variant(f"support_chat@{v}", flow=support_chat, prompt=load_prompt("support_chat", v), model=MODEL)
              for v in ("v1", "v2")],
    simulator=CUSTOMER,
    epochs=1,
    graders=[
        # What the shop holds after the chat; the shop keeps refunds and address changes in no order.
        end_state(from_expected="end_state", unordered=["refunds", "address_changes", "tickets"]).named("end_state"),
        # Another customer's data at any turn is a breach, and the reason names the turn.
        each_turn(not_contains(from_expected="never_say", default=[])).named("no_leak"),
        # What the agent had to tell the customer (the refund amount, the 30-day window...).
        agent_replies(contains_all(from_expected="must_say", default=[])).named("told"),
    ],
    gates=[
        Gate.metric("grader_errors", "==", 0),
        # A breach is not a score: none, at any turn, in any epoch.
        Gate.metric("no_leak", "==", 1.0),
        # What ships must settle at least half of its customers (every grader passes); with three
        # epochs recorded this becomes Gate.metric("pass^3", ">=", 0.5, ...): all three chats.
        Gate.metric("pass_rate", ">=", 0.5, variant="support_chat@v1"),
        # A candidate prompt may not leave the shop worse off.
        Gate.no_regression("end_state", tolerance=0.05),
        Gate.metric("error_rate", "<=", 0.1),
    ],
    baseline="support_chat@v1",
    backend="llama-cpp",
    max_error_rate=0.3,
)

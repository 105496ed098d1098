"""The FAQ suite: two prompt versions of one flow, code graders, and the gates CI applies.

Replay (the default) needs no key and no network::

    pytest evals/                       # each suite as pytest items, gates included
    harness run evals/test_faq.py       # the same run, with a report under reports/runs/
    harness gate latest                 # exit 0 pass · 1 a gate failed · 2 configuration · 3 incomplete

The committed cassettes were recorded from the harness's stub model server, which echoes the
question: record your own model once to measure it (``--record-mode rewrite`` records anew)::

    OPENAI_API_KEY=... harness run evals/test_faq.py --record-mode rewrite
"""

from pathlib import Path

from faq import answer

from harness import ModelSettings, PromptVersion, Score, Suite, Variant, grader
from harness.gate import Gate
from harness.graders import contains_all

ROOT = Path(__file__).resolve().parent.parent
MODEL = ModelSettings(model="gpt-4o-mini", temperature=0.0, max_tokens=200)


@grader
def concise(max_words: int = 60):
    """A reply a customer reads on a phone: at most ``max_words`` words."""

    def score(attempt):
        words = len(attempt.output_text.split())
        return Score.of(words <= max_words, reason=f"{words} words (at most {max_words})")

    return score


suite = Suite(
    name="faq",
    dataset="../datasets/faq.jsonl",
    variants=[Variant(f"answer@{version}", flow=answer, model=MODEL,
                      prompt=PromptVersion.load(ROOT / "prompts" / "answer" / version))
              for version in ("v1", "v2")],
    graders=[contains_all(from_expected="must_include").named("facts"), concise().named("concise")],
    gates=[
        Gate.metric("grader_errors", "==", 0),
        Gate.metric("facts", ">=", 0.75),                   # every variant states the facts asked for
        Gate.no_regression("facts", tolerance=0.05),        # v2 is not worse than the baseline, paired
    ],
    baseline="answer@v1",
)

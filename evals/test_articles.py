"""Help-centre articles, written two ways on the same requests, each with two prompt versions:

* an evaluator–optimizer loop: a writer drafts, an evaluator (a structured ``Verdict``) sends it
  back with feedback until it passes or the rounds run out;
* a five-step chain: research, outline, write, critique, improve.

Graded by code (required facts, nothing internal) and by a rubric judge (recorded in cassettes
of its own) that is itself measured against human labels on every run. The suite asks three
questions (``comparisons``): did v2 help the loop, did v2 help the chain, and is the chain a
better way to write than the loop that ships?
"""

from pathlib import Path

from harness import Dataset, ModelSettings, Suite, Variant
from harness.gate import Gate
from harness.graders import contains_all, not_contains, rubric_judge
from shopdesk.flows import chain, evaluator_optimizer
from shopdesk.prompt_library import load_prompt
from shopdesk.rubrics import ARTICLE_QUALITY

DATASETS = Path(__file__).resolve().parent.parent / "datasets"
MODEL = ModelSettings(model="smollm2", temperature=0.0, max_tokens=128)
LOOP, CHAIN = "evaluator_optimizer", "chain"

suite = Suite(
    name="articles",
    # Every request of the dataset (dev and test: 44), recorded against the 135M model.
    dataset=Dataset(DATASETS / "kb_articles.jsonl"),
    variants=[
        *(Variant(f"{LOOP}@{v}", flow=evaluator_optimizer, prompt=load_prompt(LOOP, v), model=MODEL,
                  params={"max_rounds": 2}) for v in ("v1", "v2")),
        *(Variant(f"{CHAIN}@{v}", flow=chain, prompt=load_prompt(CHAIN, v), model=MODEL) for v in ("v1", "v2")),
    ],
    graders=[
        contains_all(from_expected="must_include").named("facts"),
        not_contains(from_expected="must_not_include", default=[]).named("no_leaks"),
        rubric_judge(ARTICLE_QUALITY, labels=["pass", "fail"], name="quality").named("quality"),
    ],
    gates=[
        # The judge's own failures (a reply it could not read as a label): the shipped loop's
        # measured 8 of 44 plus a margin.
        Gate.metric("grader_errors", "<=", 10),
        # The gate holds kappa's lower 95% bound. A user relying on this judge would want at least
        # "moderate" agreement (0.4) over the whole interval: the 135M judge (κ ≈ 0.06, 95% CI
        # about [-0.25, 0.37] on 34 items) does not have it, and this gate says so.
        Gate.metric("judge_kappa", ">=", 0.4),
        # Each comparison below: a prompt version may not lose required facts.
        Gate.no_regression("facts", tolerance=0.05),
        # Error budget from the shipped loop's measured rate (v1: 9 of 44 requests, 20%: the
        # evaluator's verdict not valid JSON) plus a margin; the loop's v2 prompts (14 of 44) break it.
        Gate.metric("error_rate", "<=", 0.3),
    ],
    baseline=f"{LOOP}@v1",
    comparisons=[(f"{LOOP}@v1", f"{LOOP}@v2"), (f"{CHAIN}@v1", f"{CHAIN}@v2"), (f"{LOOP}@v1", f"{CHAIN}@v1")],
    judge=ModelSettings(model="smollm2", temperature=0.0, max_tokens=96),
    backend="llama-cpp",
    # Past half the requests errored the run is unusable (exit 3, incomplete); below that the
    # error_rate gate above judges each variant.
    max_error_rate=0.5,
    calibration={"quality": DATASETS / "calibration" / "chain.jsonl"},
)

"""Pattern 6 — evaluator-optimizer: a writer drafts, an evaluator judges, the writer revises.

The loop stops when the evaluator passes a draft or after ``max_rounds`` (variant param,
default 3). The evaluator does not search: code hands it the help articles that match the
request (the same search the writer's tool runs), so its verdict checks facts against the
source of truth rather than against what the writer happened to read. The verdict is a typed
output, so "pass" is a field code reads, not a word it hopes to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agents import Agent
from pydantic import BaseModel, Field

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopError, ShopState
from shopdesk.flows._common import as_text, publishing, require_prompt, run_agent
from shopdesk.tools import KB_TOOLS

__all__ = ["Verdict", "OptimizerAgents", "build_agents", "evaluator_optimizer", "reference_text"]

DEFAULT_MAX_ROUNDS = 3


class Verdict(BaseModel):
    """The evaluator's judgement of one draft."""

    issues: list[str] = Field(
        description="Each concrete problem: wrong or invented facts, missing points, tone."
    )
    verdict: Literal["pass", "fail"]
    feedback: str = Field(description="What the writer must change, most important first; empty on pass.")

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


@dataclass(frozen=True)
class OptimizerAgents:
    writer: Agent[Any]
    evaluator: Agent[Any]


def build_agents(prompt: Any, model: Any, settings: Any) -> OptimizerAgents:
    writer = Agent(name="Writer", instructions=prompt["writer"], tools=list(KB_TOOLS), model=model,
                   model_settings=settings)
    evaluator = Agent(name="Evaluator", instructions=prompt["evaluator"], output_type=Verdict, model=model,
                      model_settings=settings)
    return OptimizerAgents(writer=writer, evaluator=evaluator)


#: Words of the request that say what to write, not what about: they would match every article.
_META_WORDS = frozenset(
    ["write", "writing", "article", "articles", "help", "centre", "center", "page", "faq", "guide", "section", "explain", "explaining", "explains", "customers", "customer", "short", "draft", "words", "tone", "friendly", "clear", "simple", "post", "update", "announce", "announcing"]
)


def reference_text(state: ShopState, request: str, limit: int = 3) -> str:
    """The full text of the help articles that best match the request's topic (empty if none match)."""
    words = request.replace("-", " ").split()
    topic = " ".join(w for w in words if w.lower().strip(".,:;!?'\"") not in _META_WORDS)
    try:
        hits = state.search_kb(topic, limit=limit)
    except ShopError:
        return ""
    articles = [state.get_article(hit["article_id"]) for hit in hits]
    return "\n\n".join(f"[{a['article_id']}] {a['title']}\n{a['body']}" for a in articles)


def writer_input(request: str, draft: str | None, verdict: Verdict | None) -> str:
    if draft is None or verdict is None:
        return f"ARTICLE REQUEST:\n{request}"
    issues = "\n".join(f"- {issue}" for issue in verdict.issues) or "- (none listed)"
    return (
        f"ARTICLE REQUEST:\n{request}\n\nYOUR PREVIOUS DRAFT:\n{draft}\n\n"
        f"EDITOR'S ISSUES:\n{issues}\n\nEDITOR'S FEEDBACK:\n{verdict.feedback}\n\n"
        "Rewrite the article so every issue is fixed. Reply with the full revised article only."
    )


def evaluator_input(request: str, reference: str, draft: str) -> str:
    return (
        f"ARTICLE REQUEST:\n{request}\n\nREFERENCE HELP ARTICLES (the only source of truth):\n"
        f"{reference or '(no matching article)'}\n\nDRAFT TO EVALUATE:\n{draft}"
    )


@flow(name="evaluator_optimizer")
async def evaluator_optimizer(input: Any, ctx: FlowContext) -> str:
    """Draft and revise a help-centre article until the evaluator passes it or rounds run out."""
    built = build_agents(require_prompt(ctx, "evaluator_optimizer"), ctx.sdk_model(), ctx.sdk_settings())
    request = as_text(input)
    rounds = max(1, int(ctx.params.get("max_rounds", DEFAULT_MAX_ROUNDS)))
    draft: str | None = None
    verdict: Verdict | None = None
    history: list[dict[str, Any]] = []
    with publishing(ctx, ShopState.fresh()) as state:
        reference = reference_text(state, request)
        for n in range(1, rounds + 1):
            written = await run_agent(built.writer, writer_input(request, draft, verdict), state, ctx)
            draft = str(written.final_output).strip()
            judged = await run_agent(built.evaluator, evaluator_input(request, reference, draft), state, ctx)
            verdict = judged.final_output_as(Verdict, raise_if_incorrect_type=True)
            ctx.event("round", n=n, passed=verdict.passed, issues=len(verdict.issues))
            history.append({"round": n, "verdict": verdict.verdict, "issues": verdict.issues,
                            "feedback": verdict.feedback})
            if verdict.passed:
                break
        ctx.state.update(rounds=len(history), passed=bool(verdict and verdict.passed), history=history)
        return draft or ""

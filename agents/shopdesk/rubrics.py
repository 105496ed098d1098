"""Rubrics the demo's LLM judges grade with, shared by every suite that judges the same output."""

__all__ = ["ARTICLE_QUALITY"]

#: A help-centre article (the chain's and the evaluator-optimizer's output), judged pass/fail.
ARTICLE_QUALITY = (
    "A good help-centre article is accurate to the shop's policies, covers every point the request "
    "asks for, and is clear and concise. Penalise invented policies, numbers or promises."
)

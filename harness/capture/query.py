"""Finding the traces that matter: one filter, shared by ``harness traces list`` and ``import``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from harness.capture.record import CapturedTrace

__all__ = ["TraceFilter", "guardrails_tripped"]


def guardrails_tripped(trace: CapturedTrace) -> list[str]:
    """Names of the guardrails that fired in a trace."""
    return [s.name for s in trace.record.spans if s.kind == "guardrail" and s.attributes.get("triggered")]


@dataclass(frozen=True)
class TraceFilter:
    """Every condition given must hold (an empty filter keeps every trace)."""

    errors: bool = False
    guardrail_tripped: bool = False
    #: Traces whose latest feedback score is below this (traces without feedback do not match).
    feedback_below: float | None = None
    latency_above_s: float | None = None
    agent: str | None = None
    tool: str | None = None
    #: The trace's name: an SDK trace's workflow, a ``harness.capture.trace`` block's name, or the
    #: API of a lone plain call (``chat.completions``): what tells one entry point of an app from another.
    workflow: str | None = None
    #: Case-insensitive text anywhere in the input, output, error, feedback comments or spans.
    text: str | None = None
    ids: frozenset[str] = field(default_factory=frozenset)

    def matches(self, trace: CapturedTrace) -> bool:
        record = trace.record
        trajectory = record.trajectory
        checks = [
            not self.errors or record.error is not None,
            not self.guardrail_tripped or bool(guardrails_tripped(trace)),
            self.feedback_below is None or (trace.score is not None and trace.score < self.feedback_below),
            self.latency_above_s is None or record.latency_s > self.latency_above_s,
            self.agent is None or self.agent in trajectory.agents,
            self.tool is None or self.tool in [t.name for t in trajectory.tool_calls],
            self.workflow is None or record.workflow == self.workflow,
            not self.ids or record.trace_id in self.ids,
        ]
        return all(checks) and (self.text is None or self._has_text(trace))

    def _has_text(self, trace: CapturedTrace) -> bool:
        assert self.text is not None
        record = trace.record
        haystack = json.dumps([record.input, record.output, record.error, [f.comment for f in trace.feedback],
                               [s.model_dump() for s in record.spans]], default=str, ensure_ascii=False)
        return self.text.lower() in haystack.lower()

    def select(self, traces: list[CapturedTrace]) -> list[CapturedTrace]:
        return [t for t in traces if self.matches(t)]

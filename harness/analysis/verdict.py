"""What a gate evaluation concluded: per-gate results and the exit code CI reads.

These are the verdict's data, below both the gates that produce them (:mod:`harness.gate`) and
the reports that render them (:mod:`harness.report`), so neither of those imports the other.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, Field

from harness.analysis.run_data import ERRORS_COUNTED
from harness.analysis.stats import Interval, PairedComparison
from harness.analysis.status import RunStatus

__all__ = ["ExitCode", "GateResult", "GateReport"]


class ExitCode(IntEnum):
    """What ``harness gate`` exits with; CI reads it. Every surface words a code with :attr:`meaning`."""

    OK = 0
    GATE_FAILED = 1
    CONFIG_ERROR = 2
    RUN_INCOMPLETE = 3

    @property
    def meaning(self) -> str:
        """The code in words, the same in the CLI, reports and pytest: ``a gate failed``."""
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "all gates pass",
    ExitCode.GATE_FAILED: "a gate failed",
    ExitCode.CONFIG_ERROR: "configuration error",
    ExitCode.RUN_INCOMPLETE: "run incomplete",
}


class GateResult(BaseModel):
    """One gate on one variant: the number, its interval, what it was held to, and why it failed."""

    gate: str
    kind: Literal["metric", "no_regression"]
    metric: str
    variant: str | None
    status: Literal["pass", "fail", "error"]
    value: float | None = None
    ci: Interval | None = None
    n: int | None = None
    op: str | None = None
    threshold: float | None = None
    baseline: str | None = None
    baseline_value: float | None = None
    comparison: PairedComparison | None = None
    tolerance: float | None = None
    drivers: list[str] = Field(default_factory=list, description="tasks that drove a failure")
    drivers_total: int = 0
    drivers_reason: str = ""
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"


class GateReport(BaseModel):
    run_id: str
    #: the run's status word (complete, partial, damaged, running, failed; "unreadable")
    status: str
    exit_code: ExitCode
    results: list[GateResult]
    problems: list[str] = Field(default_factory=list, description="configuration errors and why the run is incomplete")
    max_error_rate: float
    error_rates: dict[str, float] = Field(default_factory=dict)
    run_status: RunStatus | None = None
    #: gated although partial (``--allow-partial``): the verdict is about what ran, not the suite
    allowed_partial: bool = False
    errors_counted: str = ERRORS_COUNTED

    @property
    def verdict(self) -> str:
        """One line: what CI should read."""
        text = self.exit_code.meaning
        if self.allowed_partial:
            text += f" (on a PARTIAL run: {self.run_status.line() if self.run_status else 'partial'})"
        elif self.exit_code == ExitCode.RUN_INCOMPLETE and self.status not in ("complete", "unreadable"):
            text += f" ({self.status})"
        return text

    @property
    def passed(self) -> bool:
        return self.exit_code == ExitCode.OK

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if r.status != "pass"]

    def messages(self) -> list[str]:
        """One line per problem and per failed gate (each said once), for a terminal or a CI log."""
        return list(dict.fromkeys([*self.problems, *(r.message for r in self.failures)]))

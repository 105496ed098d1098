"""The gate item's judgement: the suite's gates on what this session ran of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.core.gate_spec import NoRegressionGate, parse_gates
from harness.core.results import RunFolder

__all__ = ["GateJudgement", "judge_gates"]


@dataclass
class GateJudgement:
    """The gate report of what ran, with the gates skipped because their variants did not run."""

    report: Any
    skipped: list[str]
    ran: int
    total: int

    @property
    def exit_code(self) -> int:
        return int(self.report.exit_code)

    def partial_line(self) -> str | None:
        if self.ran >= self.total:
            return None
        return (f"partial: {self.ran} of {self.total} tasks ran (-k/--lf/--variant selection); "
                "the gates judge only what ran")

    def text(self, title: str, folder: Path | None) -> str:
        from harness.analysis.verdict import ExitCode

        verdict = "PASS" if self.exit_code == 0 else "FAIL"
        lines = [(f"{title}: {verdict} (exit {self.exit_code}: {ExitCode(self.exit_code).meaning}), "
                  f"run {self.report.run_id}")]
        if (partial := self.partial_line()) is not None:
            lines.append(partial)
        lines += list(self.report.problems)
        lines += [r.message for r in self.report.results if r.message not in self.report.problems]
        lines += self.skipped
        if not self.report.results and not self.skipped:
            lines.append("no gates declared; checked only that the run is complete")
        lines.append(f"run folder: {folder}")
        return "\n".join(lines)


def judge_gates(folder: Path | None, ran: int, total: int, baseline: Path | None) -> GateJudgement:
    """Evaluate the run's gates; on a partial run, skip gates about variants that did not run."""
    from harness.gate import evaluate_gates  # pandas & co only when a suite ran

    assert folder is not None
    manifest = RunFolder.open(folder).manifest()
    try:
        specs: list[Any] | None = parse_gates(manifest.gates)
    except ValidationError:
        specs = None  # evaluate_gates reports it as a configuration error
    skipped: list[str] = []
    if specs is not None and ran < total:
        ran_variants = {v.name for v in manifest.variants}
        kept = []
        for spec in specs:
            needed = {spec.variant} if spec.variant else set()
            if isinstance(spec, NoRegressionGate) and spec.baseline_variant:
                needed.add(spec.baseline_variant)
            elif isinstance(spec, NoRegressionGate) and baseline is None and not spec.baseline:
                needed |= {v for pair in manifest.comparison_pairs() if spec.variant in (None, pair[1]) for v in pair}
            missing = sorted(n for n in needed if n and n not in ran_variants)
            if missing:
                skipped.append(f"SKIP {spec.describe()}: variant {', '.join(missing)} not selected in this session")
            else:
                kept.append(spec)
        specs = kept
    # a -k/--lf/--variant selection is partial on purpose: gated on what ran, and said so
    report = evaluate_gates(folder, gates=specs, baseline=baseline, allow_partial=ran < total)
    return GateJudgement(report=report, skipped=skipped, ran=ran, total=total)

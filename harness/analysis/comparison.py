"""The comparisons a run answers, each decided once: candidate against baseline on one metric.

A :class:`ComparisonRow` is *the* verdict on (baseline, candidate, metric): its test, p-value,
family-adjusted p, interval, label, wins and losses (``result.candidate_only`` /
``result.baseline_only``) and tasks needed. ``harness gate``, the report (md, html, json),
``harness compare``, the pytest gate item, the viewer and the demo headline all show rows made
here, by the same function from the same inputs, so no surface can give a second opinion.

Which family a comparison belongs to (docs/verdicts.md says why):

* **the release question**: a candidate's no-regression gates against one baseline are one
  family over the gated metrics, tested one-sided ("is the candidate worse?"), never pooled with
  another candidate's gates nor with the metrics no gate names;
* **the pair's question**: every other metric of a (baseline, candidate) pair is one family,
  tested two-sided ("is there a difference?"); each declared comparison pair is its own family.

Holm's correction runs within a family after Tarone's rule (:func:`harness.analysis.families.adjust_family`);
``pass_rate`` repeating a single grader is that grader's hypothesis, not a second test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from harness.analysis import families, stats
from harness.analysis.per_task import TaskValues
from harness.analysis.run_data import PASS_RATE, TASK_RATES, RunData, load_run_data
from harness.analysis.stats import Alternative, PairedComparison
from harness.analysis.status import named_ids
from harness.core.gate_spec import (
    ALIASES,
    LOWER_IS_BETTER,
    PAIRED_BUILTIN,
    GateConfigError,
    NoRegressionGate,
)
from harness.core.results import RunFolderError

__all__ = [
    "Arm",
    "ComparisonRow",
    "Question",
    "ReleaseCheck",
    "BaselineRuns",
    "paired_values",
    "BaselineCheck",
    "check_baseline",
    "per_task_column",
    "gated_metrics",
    "all_release_checks",
    "worse_direction",
    "release_checks",
    "release_rows",
    "compare_arms",
    "release_family_name",
]

Question = Literal["release", "pair"]


@dataclass(frozen=True)
class Arm:
    """One variant of one run: a side of a comparison. ``label`` names it (``v1``, ``<run>:v1``).

    ``only``: the tasks it is compared on (``--allow-dataset-change``: the unchanged ones); None: all.
    """

    data: RunData
    variant: str
    label: str
    only: frozenset[str] | None = None

    def values(self, metric: str) -> TaskValues:
        values = paired_values(self.data, self.variant, metric)
        return values if self.only is None else values.only(self.only)


@dataclass(frozen=True)
class BaselineCheck:
    """How a candidate run's tasks stand against a baseline run's (another run, not another variant)."""

    #: tasks the baseline ran and the candidate did not (the candidate is partial against it)
    missing: tuple[str, ...] = ()
    #: with ``--allow-dataset-change``: what was left out, said on every surface
    note: str | None = None
    #: the tasks both sides are compared on; None: every task both have
    only: frozenset[str] | None = None


def _task_ids(data: RunData) -> set[str]:
    hashes = data.manifest.task_hashes
    return set(hashes) if hashes else set(data.attempts["task_id"].astype(str)) if len(data.attempts) else set()


def check_baseline(base: RunData, cand: RunData, *, allow_dataset_change: bool = False) -> BaselineCheck:
    """Refuse a baseline run whose tasks changed under the same id; name the tasks the candidate lacks.

    Tasks are told apart by ``run.json`` ``task_hashes``; runs without them (older runs) by the
    dataset file's sha256, which cannot say which task changed. Raises :class:`GateConfigError`
    (exit 2) for changed tasks unless ``allow_dataset_change``, which compares the unchanged
    tasks both runs have and says so.
    """
    before, after = base.manifest.task_hashes, cand.manifest.task_hashes
    base_ids, cand_ids = _task_ids(base), _task_ids(cand)
    missing = sorted(base_ids - cand_ids)
    if before and after:
        changed = sorted(t for t in base_ids & cand_ids if before[t] != after[t])
        what = f"{len(changed)} task(s) changed under the same id: {named_ids(changed)}" if changed else ""
    else:
        shas = (base.manifest.dataset.get("sha256"), cand.manifest.dataset.get("sha256"))
        changed = sorted(base_ids & cand_ids) if None not in shas and shas[0] != shas[1] else []
        what = (f"the dataset file changed (sha256 {str(shas[0])[:12]} -> {str(shas[1])[:12]}) and the runs "
                "keep no per-task hashes to tell which tasks did") if changed else ""
    where = f"baseline run {base.manifest.run_id} vs run {cand.manifest.run_id}"
    if not allow_dataset_change:
        if what:
            raise GateConfigError(f"{where}: {what}; a comparison across them would answer another question "
                                  "(--allow-dataset-change compares the unchanged tasks only)")
        return BaselineCheck(missing=tuple(missing))
    if not (what or missing):
        return BaselineCheck()
    kept = frozenset((base_ids & cand_ids) - set(changed))
    left = [f"{len(changed)} changed" if changed else "", f"{len(missing)} missing from the candidate" if missing else ""]
    note = (f"DATASET CHANGE ({where}, --allow-dataset-change): compared on the {len(kept)} unchanged task(s) "
            f"both runs have; left out {' and '.join(x for x in left if x)}")
    return BaselineCheck(note=note, only=kept)


class ComparisonRow(BaseModel):
    """Candidate vs baseline on one metric, decided in its family (plain data; see the module doc).

    ``result.label`` is decided on ``result.p_adjusted``; ``question`` says which family:
    ``release`` (a no-regression gate's, one-sided) or ``pair`` (the pair's other metrics).
    """

    metric: str
    baseline: str
    candidate: str
    question: Question = Field(default="pair", description="release: a no-regression gate's one-sided family; "
                                                   "pair: the pair's other metrics, two-sided")
    result: PairedComparison


def release_family_name(base: str, candidate: str) -> str:
    return f"{candidate} vs {base}: release gates (one-sided)"


def worse_direction(metric: str) -> Alternative:
    """The one-sided alternative that means "worse" on ``metric`` (a rise where lower is better)."""
    return "greater" if ALIASES.get(metric, metric) in LOWER_IS_BETTER else "less"


def per_task_column(data: RunData, variant: str, column: str) -> TaskValues:
    """A per-attempt column (cost, tokens, latency) averaged per task, in task id order."""
    means = data.variant_attempts(variant).groupby("task_id")[column].mean()
    return TaskValues(np.asarray(means.index, dtype=object), means.to_numpy(dtype=float))


def _attempt_column(data: RunData, metric: str) -> str | None:
    """The attempt column a per-task metric averages (None for scores and pass_rate); raises if none can."""
    if metric in data.score_names or metric in TASK_RATES:
        return None
    column = {"cost_per_task_usd": "cost_usd", "tokens_per_task": "tokens", "latency_s": "latency_s"}.get(metric)
    if column is None:
        raise GateConfigError(
            f"no_regression({metric!r}): only per-task metrics can be compared task by task "
            f"(score names, {', '.join(sorted(PAIRED_BUILTIN))}); use Gate.metric for {metric}")
    return column


def paired_values(data: RunData, variant: str, metric: str) -> TaskValues:
    """Per-task values a paired test compares: scores and pass_rate (errors fail), cost, tokens, latency."""
    metric = ALIASES.get(metric, metric)
    column = _attempt_column(data, metric)
    return data.task_values(variant, metric) if column is None else per_task_column(data, variant, column)


class BaselineRuns:
    """Baseline run folders, each read once (``Gate.no_regression(baseline=...)``, ``--baseline``)."""

    def __init__(self, preloaded: Iterable[RunData] = ()) -> None:
        self._runs: dict[str, RunData] = {str(r.path): r for r in preloaded}

    def get(self, path: str | Path | RunData) -> RunData:
        if isinstance(path, RunData):
            self._runs.setdefault(str(path.path), path)
            return path
        key = str(path)
        if key not in self._runs:
            if not (Path(path) / "run.json").is_file():
                raise GateConfigError(f"baseline {path} not found (no run.json); create it from a good run with: "
                                      f"harness baseline update <run> --dest {path}")
            try:
                self._runs[key] = load_run_data(path)
            except (RunFolderError, ValueError) as exc:
                raise GateConfigError(f"baseline {path} cannot be read: {exc}") from exc
        return self._runs[key]

    def loaded(self) -> list[RunData]:
        return list(self._runs.values())


@dataclass(frozen=True)
class ReleaseCheck:
    """One no-regression gate applied to one candidate against one baseline."""

    gate: NoRegressionGate
    base: Arm
    cand: Arm
    baseline_check: BaselineCheck = BaselineCheck()

    @property
    def metric(self) -> str:
        return ALIASES.get(self.gate.metric, self.gate.metric)


def _check_variant(data: RunData, variant: str, what: str = "variant") -> None:
    if variant not in data.variants:
        raise GateConfigError(f"unknown {what} '{variant}' (run {data.manifest.run_id} has: "
                              f"{', '.join(data.variants)})")


def _within_run_pairs(gate: NoRegressionGate, data: RunData) -> list[tuple[str, str]]:
    """The suite's own comparisons a gate without a baseline run applies to (declared pairs first)."""
    if not data.manifest.comparisons and data.manifest.baseline_variant is None:
        raise GateConfigError(f"{gate.describe()}: no baseline (give baseline=, baseline_variant= or "
                              "set the suite's baseline variant)")
    pairs = [(b, c) for b, c in data.comparison_pairs if gate.variant in (None, c)]
    if gate.variant is not None:
        _check_variant(data, gate.variant)
        if not pairs:
            raise GateConfigError(
                f"{gate.describe()}: the suite compares no pair with candidate '{gate.variant}' (its comparisons: "
                f"{', '.join(f'{c} vs {b}' for b, c in data.comparison_pairs) or 'none'})")
    # A candidate this run did not run (a partial run: its status says so) has nothing to judge;
    # a candidate that ran without its baseline cannot be judged, which is an error.
    pairs = [(b, c) for b, c in pairs if c in data.variants]
    not_run = set(data.manifest.declared.get("variants") or []) - set(data.variants)
    if not pairs and not not_run:
        raise GateConfigError(f"{gate.describe()}: nothing to compare: run {data.manifest.run_id} has only "
                              f"{', '.join(data.variants)} (give the gate a baseline run folder, or run a candidate)")
    for b, _ in pairs:
        _check_variant(data, b, "baseline variant")
    return pairs


def release_checks(gate: NoRegressionGate, data: RunData, baseline: str | Path | RunData | None,
                   runs: BaselineRuns, *, allow_dataset_change: bool = False) -> list[ReleaseCheck]:
    """Which (baseline, candidate) pairs one no-regression gate judges (GateConfigError if none can be).

    ``baseline``: a baseline run overriding the gate's own (``--baseline``, ``report --vs RUN``);
    its tasks are checked against the run's (:func:`check_baseline`).
    """
    checks = _checks(gate, data, baseline, runs, allow_dataset_change)
    for check in checks:
        _attempt_column(check.base.data, check.metric)
        _attempt_column(check.cand.data, check.metric)
    return checks


def _checks(gate: NoRegressionGate, data: RunData, baseline: str | Path | RunData | None,
            runs: BaselineRuns, allow_dataset_change: bool) -> list[ReleaseCheck]:
    if gate.variant is not None:
        _check_variant(data, gate.variant)
    if gate.baseline_variant is not None:
        _check_variant(data, gate.baseline_variant, "baseline variant")
        names = [gate.variant] if gate.variant else [v for v in data.variants if v != gate.baseline_variant]
        base = Arm(data, gate.baseline_variant, gate.baseline_variant)
        return [ReleaseCheck(gate, base, Arm(data, v, v)) for v in names]
    if baseline is None and gate.baseline is None:
        return [ReleaseCheck(gate, Arm(data, b, b), Arm(data, c, c)) for b, c in _within_run_pairs(gate, data)]
    other = runs.get(baseline if baseline is not None else gate.baseline)  # type: ignore[arg-type]
    verdict = check_baseline(other, data, allow_dataset_change=allow_dataset_change)
    checks = []
    for variant in [gate.variant] if gate.variant else data.variants:
        if variant in other.variants:
            base_variant = variant
        elif len(other.variants) == 1:
            base_variant = other.variants[0]
        else:
            raise GateConfigError(f"{gate.describe()}: baseline run {other.manifest.run_id} has no variant "
                                  f"'{variant}' (has: {', '.join(other.variants)})")
        base = Arm(other, base_variant, f"{other.manifest.run_id}:{base_variant}", verdict.only)
        checks.append(ReleaseCheck(gate, base, Arm(data, variant, variant, verdict.only), verdict))
    return checks


def _one(base: Arm, cand: Arm, metric: str, *, alpha: float, effect: float,
         alternative: Alternative) -> PairedComparison:
    return stats.paired_compare(base.values(metric), cand.values(metric), alpha=alpha, effect=effect,
                                alternative=alternative)


def _twins(base: Arm, cand: Arm, metrics: Sequence[str], among: Sequence[str]) -> dict[str, str]:
    """``pass_rate`` -> the single grader it repeats (same per-task values on both sides), if any."""
    if PASS_RATE not in metrics:
        return {}
    sides = {m: (base.values(m), cand.values(m)) for m in [PASS_RATE, *among]
             if m in base.data.score_names or m in TASK_RATES}
    twin = next((m for m in among if m not in TASK_RATES and m in sides and sides[m] == sides[PASS_RATE]), None)
    return {PASS_RATE: twin} if twin is not None else {}


def _release_family(base: Arm, cand: Arm, gated: Mapping[str, float], effect: float) -> dict[str, ComparisonRow]:
    """The candidate's no-regression gates against ``base``: one family, one-sided ("worse?").

    "worse" is decided on the one-sided p, Holm-adjusted in the family. A one-sided test cannot
    confirm an improvement, so a gated metric that moved the good way is labelled by the two-sided
    test adjusted in the same family (``p_two_sided_adjusted``): as strict as the pair's question.
    """
    metrics = list(gated)
    family = release_family_name(base.label, cand.label)
    one_sided = families.adjust_family(
        [_one(base, cand, m, alpha=gated[m], effect=effect, alternative=worse_direction(m)) for m in metrics], family)
    two_sided = families.adjust_family(
        [_one(base, cand, m, alpha=gated[m], effect=effect, alternative="two-sided") for m in metrics], family)
    rows = {}
    for m, worse, both in zip(metrics, one_sided, two_sided, strict=True):
        harmful = "better" if worse_direction(m) == "greater" else "worse"
        update: dict[str, object] = {"p_two_sided_adjusted": both.p_adjusted}
        if worse.label != harmful and both.label not in (harmful, "no detectable difference"):
            update["label"] = both.label
        rows[m] = ComparisonRow(metric=m, baseline=base.label, candidate=cand.label, question="release",
                                result=worse.model_copy(update=update))
    return rows


def _pair_family(base: Arm, cand: Arm, metrics: Sequence[str], alpha: float, effect: float,
                 decided: Mapping[str, ComparisonRow]) -> dict[str, ComparisonRow]:
    """The pair's other metrics: one family, two-sided; pass_rate repeating a grader takes its verdict."""
    twins = _twins(base, cand, metrics, [m for m in [*metrics, *decided] if m != PASS_RATE])
    results = [_one(base, cand, m, alpha=alpha, effect=effect, alternative="two-sided") for m in metrics]
    exclude = {i: f"same hypothesis as {twins[m]} (pass_rate repeats its only grader)"
               for i, m in enumerate(metrics) if m in twins}
    adjusted = families.adjust_family(results, f"{cand.label} vs {base.label}", exclude)
    rows = {}
    for m, result in zip(metrics, adjusted, strict=True):
        twin = twins.get(m)
        if twin is not None:
            source = decided[twin].result if twin in decided else adjusted[list(metrics).index(twin)]
            result = result.model_copy(update={"p_adjusted": source.p_adjusted, "label": source.label})
        rows[m] = ComparisonRow(metric=m, baseline=base.label, candidate=cand.label, result=result)
    return rows


def compare_arms(base: Arm, cand: Arm, metrics: Sequence[str], gated: Mapping[str, float], *,
                 alpha: float = 0.05, effect: float = 0.05) -> list[ComparisonRow]:
    """Every comparison of one pair: the gated metrics' release family, then the pair's family.

    ``gated``: metric -> alpha of the no-regression gates this pair answers (empty: none).
    Rows come in ``metrics`` order, then gated metrics ``metrics`` lacks (cost, tokens, latency).
    """
    release = _release_family(base, cand, gated, effect) if gated else {}
    rest = [m for m in metrics if m not in release]
    pair = _pair_family(base, cand, rest, alpha, effect, release) if rest else {}
    ordered = list(dict.fromkeys([*metrics, *release]))
    return [release.get(m) or pair[m] for m in ordered]


def gated_metrics(checks: Iterable[ReleaseCheck]) -> dict[tuple[str, str], dict[str, float]]:
    """(baseline label, candidate label) -> gated metric -> the strictest alpha a gate on it asks."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for check in checks:
        per_metric = out.setdefault((check.base.label, check.cand.label), {})
        per_metric[check.metric] = min(check.gate.alpha, per_metric.get(check.metric, math.inf))
    return out


def release_rows(checks: Sequence[ReleaseCheck], effect: float = 0.05) -> dict[tuple[str, str, str], ComparisonRow]:
    """(baseline label, candidate label, metric) -> the release verdict, one family per pair."""
    arms = {(c.base.label, c.cand.label): (c.base, c.cand) for c in checks}
    out: dict[tuple[str, str, str], ComparisonRow] = {}
    for key, gated in gated_metrics(checks).items():
        base, cand = arms[key]
        for metric, row in _release_family(base, cand, gated, effect).items():
            out[(*key, metric)] = row
    return out


def all_release_checks(data: RunData, gates: Sequence[NoRegressionGate], baseline: str | Path | RunData | None,
                       runs: BaselineRuns, *, skip: Callable[[NoRegressionGate], bool] | None = None,
                       allow_dataset_change: bool = False) -> list[ReleaseCheck]:
    """Every check the gates make that can be made (a gate that cannot be judged makes none here)."""
    checks: list[ReleaseCheck] = []
    for gate in gates:
        if skip is not None and skip(gate):
            continue
        try:
            checks.extend(release_checks(gate, data, baseline, runs, allow_dataset_change=allow_dataset_change))
        except GateConfigError:
            continue  # harness gate reports it; a report simply has no release question for it
    return checks

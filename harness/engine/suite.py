"""Suites and variants: what to run, declared at module level in ``evals/test_*.py``.

A :class:`Variant` is one way of answering a task — a flow, a prompt version and model
settings — under a short stable name (``triage@v2``). The name keys cassettes and results; the
settings' hash goes in the run manifest, so changing a temperature is visible in reports
without orphaning recordings.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.conversation import UserSimulator
from harness.core.dataset import Dataset
from harness.core.model_settings import ModelSettings
from harness.core.portable import portable_path
from harness.core.prompts import PromptVersion
from harness.core.run_settings import SettingError, check_settings
from harness.engine.flow import flow_name, get_flow, settings_kwargs
from harness.engine.runtime import RuntimeConfig

__all__ = ["ModelSettings", "Variant", "Suite", "SuiteError"]


class SuiteError(ValueError):
    """A suite declaration that cannot run (bad variant names, unknown flow, missing dataset)."""


@dataclass(frozen=True)
class Variant:
    """One (flow × prompt version × model settings) combination under a stable short name."""

    name: str
    flow: Callable[..., Any] | str
    prompt: PromptVersion | None = None
    model: ModelSettings = field(default_factory=ModelSettings)
    params: dict[str, Any] = field(default_factory=dict)
    #: Send every model call of the flow to ``model.model``, whatever model the app's own code
    #: names (``Agent(model="gpt-4.1")``, the SDK's default, ``client.responses.create(model=…)``):
    #: two variants over unchanged code then compare two models. ``False`` leaves the app's choice.
    override_model: bool = False

    def resolve_flow(self) -> Callable[..., Any]:
        return get_flow(self.flow) if isinstance(self.flow, str) else self.flow

    @property
    def forced_model(self) -> str | None:
        """The model every call of the flow is sent to, or ``None`` (the app's own choice)."""
        return self.model.model if self.override_model else None

    @property
    def flow_label(self) -> str:
        """The flow's registered name (or its qualified name), for messages and ``run.json``."""
        return self.flow if isinstance(self.flow, str) else flow_name(self.flow)

    def settings(self) -> dict[str, Any]:
        """Everything that decides this variant's behaviour, as recorded in ``run.json``."""
        return {
            "flow": self.flow_label,
            "prompt": None if self.prompt is None else {
                "name": self.prompt.name,
                "version": self.prompt.version,
                "sha256": self.prompt.sha256,
                "source": portable_path(self.prompt.source),
            },
            "model": self.model.model_dump(),
            "params": self.params,
            # Only when set, so the settings hash of every variant that leaves the app's choice
            # (all recordings made before this option) is unchanged.
            **({"model_choice": "variant overrides the app's model"} if self.override_model else {}),
        }

    @functools.cached_property
    def settings_hash(self) -> str:
        canonical = json.dumps(self.settings(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @functools.cached_property
    def prepared_kwargs(self) -> tuple[ModelSettings, dict[str, Any]] | None:
        """``model.request_kwargs()`` made once, for every unit's ``ctx.model_kwargs()`` (see
        :func:`harness.engine.flow.settings_kwargs`: a ``model_dump`` per model call before)."""
        return settings_kwargs(self.model)


_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@+")


def _check_name(kind: str, name: str) -> None:
    if not name or not set(name) <= _NAME_CHARS:
        raise SuiteError(
            f"{kind} name '{name}' must be non-empty and use only letters, digits and _-.@+ "
            "(it becomes a folder name under cassettes/)"
        )


@dataclass
class Suite:
    """An eval suite: a dataset, the variants to compare, graders and gates.

    Declare it at module level in ``evals/test_<name>.py``; ``harness run evals/test_x.py`` and
    ``pytest evals/`` both find it there.
    """

    name: str
    dataset: Dataset | str | Path
    variants: Sequence[Variant]
    graders: Sequence[Any] = ()
    gates: Sequence[Any] = ()
    epochs: int = 1
    #: A task item passes (pytest, ``--epochs``) when its pass rate reaches this.
    pass_threshold: float = 1.0
    #: Task error rate (per variant) above which the gates call a run incomplete (exit code 3).
    max_error_rate: float = 0.05
    #: The variant that ships now: comparisons and no-regression gates measure against it.
    baseline: str | None = None
    #: The questions the suite asks, as (baseline, candidate) pairs, when they are not all "this
    #: variant or the baseline?": ``[("chain@v1", "chain@v2"), ("evaluator_optimizer@v1", "chain@v1")]``
    #: compares two prompt versions of one flow and two flows. Reports, ``harness gate``, pytest
    #: and the viewer compare exactly these pairs (each its own Holm family), and a no-regression
    #: gate without a baseline of its own checks each. Empty: every variant against ``baseline``.
    comparisons: Sequence[tuple[str, str]] = ()
    description: str = ""
    #: Settings of the judge model (LLM-judge graders), kept apart from the model under test.
    judge: ModelSettings | None = None
    #: The model playing the customer in conversation tasks (rows with a ``user`` block): its own
    #: settings, recorded on its own channel (``cassettes/<suite>/_users/<name>/``).
    simulator: UserSimulator | None = None
    #: Judge calibration sets: metric name of a judge grader -> JSONL of human verdicts. Each run
    #: measures those judges against them (accuracy, kappa) so a ``judge_kappa`` gate can hold.
    calibration: dict[str, str | Path] = field(default_factory=dict)
    #: The backend profile the suite's cassettes were recorded through (e.g. "llama-cpp"): request
    #: adaptations change the body that replay matches on, so replay must use the same profile.
    backend: str | None = None
    #: Where the suite was declared; relative dataset paths resolve against it.
    root: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("suite", self.name)
        try:
            check_settings({"epochs": self.epochs, "pass_threshold": self.pass_threshold,
                            "max_error_rate": self.max_error_rate})
        except SettingError as exc:
            raise SuiteError(f"suite '{self.name}': {exc}") from None
        seen: set[str] = set()
        for variant in self.variants:
            _check_name("variant", variant.name)
            if variant.name in seen:
                raise SuiteError(f"suite '{self.name}' declares variant '{variant.name}' twice")
            seen.add(variant.name)
        if not self.variants:
            raise SuiteError(f"suite '{self.name}' declares no variants")
        if self.baseline is not None and self.baseline not in seen:
            raise SuiteError(f"suite '{self.name}': baseline '{self.baseline}' is not one of its variants")
        self._check_comparisons(seen)

    def _check_comparisons(self, declared: set[str]) -> None:
        pairs: set[tuple[str, str]] = set()
        for pair in self.comparisons:
            if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)):
                raise SuiteError(f"suite '{self.name}': each comparison is a (baseline, candidate) pair of variant "
                                 f"names; got {pair!r}")
            base, candidate = pair
            unknown = [v for v in (base, candidate) if v not in declared]
            if unknown:
                raise SuiteError(f"suite '{self.name}': comparison ({base!r}, {candidate!r}) names "
                                 f"{', '.join(repr(v) for v in unknown)}, not one of its variants")
            if base == candidate:
                raise SuiteError(f"suite '{self.name}': comparison ({base!r}, {candidate!r}) compares a variant "
                                 "with itself")
            if (base, candidate) in pairs or (candidate, base) in pairs:
                raise SuiteError(f"suite '{self.name}': comparison ({base!r}, {candidate!r}) is declared twice")
            pairs.add((base, candidate))

    def resolved_dataset(self) -> Dataset:
        if isinstance(self.dataset, Dataset):
            return self.dataset
        path = Path(self.dataset)
        if not path.is_absolute() and not path.exists() and self.root is not None:
            for base in (self.root, *self.root.parents):
                candidate = base / path
                if candidate.exists():
                    path = candidate
                    break
        if not path.exists():
            raise SuiteError(f"suite '{self.name}': dataset {self.dataset} not found")
        return Dataset(path)

    def configure(self, config: RuntimeConfig) -> None:
        """Give a run's runtime the suite's own models: the judge's and the simulated customer's."""
        if self.judge is not None:
            config.judge_settings = self.judge
        if self.simulator is not None:
            config.simulator = self.simulator

    def calibration_sets(self) -> dict[str, Path]:
        """Calibration set paths, resolved like the dataset (against the suite's folder)."""
        found = {}
        for metric, raw in self.calibration.items():
            path = Path(raw)
            if not path.is_absolute() and not path.exists() and self.root is not None:
                path = self.root / path
            found[metric] = path
        return found

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise SuiteError(f"suite '{self.name}' has no variant '{name}' (has: {', '.join(self.variant_names)})")

    @property
    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]

    def select_variants(self, names: Iterable[str] | None) -> list[Variant]:
        if not names:
            return list(self.variants)
        return [self.variant(n) for n in names]

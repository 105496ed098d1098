"""The plugin's command-line options, resolved into :class:`EvalOptions` once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.core.run_settings import SettingError, check_settings

__all__ = ["RECORD_MODES", "OPTION_FLAGS", "EvalOptions", "add_options", "k_safe"]

RECORD_MODES = ("none", "once", "rewrite", "off")
#: How the plugin's options spell each run setting, for messages about them.
OPTION_FLAGS = {"epochs": "--epochs", "concurrency": "--concurrency", "max_cost_usd": "--max-cost"}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "orchestration-harness evals (Suite objects in test modules)")
    group.addoption("--eval-record-mode", dest="harness_record_mode", choices=RECORD_MODES, default="none",
                    help="cassettes: none = replay only (default) · once = record what is missing · "
                         "rewrite = record again · off = live, record nothing")
    group.addoption("--variant", dest="harness_variants", action="append", default=[], metavar="NAME",
                    help="run only this suite variant (repeatable); other variants' items are deselected")
    group.addoption("--epochs", dest="harness_epochs", type=int, default=None, metavar="K",
                    help="attempts per task; a task item passes when its pass rate reaches pass_threshold")
    group.addoption("--concurrency", dest="harness_concurrency", type=int, default=8, metavar="N",
                    help="units of work in flight at once within a suite (default 8)")
    group.addoption("--eval-report", dest="harness_report_dir", default=None, metavar="DIR",
                    help="where run folders and their reports go (default <rootdir>/reports/runs)")
    group.addoption("--baseline", dest="harness_baseline", default=None, metavar="PATH",
                    help="baseline run folder for no-regression gates")
    group.addoption("--max-cost", dest="harness_max_cost", type=float, default=None, metavar="USD",
                    help="stop scheduling a suite's work once this much is spent")
    group.addoption("--eval-base-url", dest="harness_base_url", default=None, metavar="URL",
                    help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL)")
    group.addoption("--eval-cassettes", dest="harness_cassettes", default=None, metavar="DIR",
                    help="cassette root (default <rootdir>/cassettes; ad-hoc evals: next to the test file)")
    group.addoption("--eval-no-plots", dest="harness_no_plots", action="store_true", default=False,
                    help="write reports without plots (faster)")
    group.addoption("--eval-executor", dest="harness_executor", choices=("local", "ray"), default="local",
                    help="where units run: local (this process) or ray (a Ray cluster; needs harness[ray])")
    group.addoption("--eval-ray-address", dest="harness_ray_address", default=None, metavar="HOST:PORT",
                    help="the Ray cluster for --eval-executor ray (default: a Ray instance on this machine)")


@dataclass(frozen=True)
class EvalOptions:
    """The command line, resolved: paths given are relative to where pytest was started, defaults to rootdir."""

    record_mode: str
    variants: tuple[str, ...]
    epochs: int | None
    concurrency: int
    runs_dir: Path
    baseline: Path | None
    max_cost: float | None
    base_url: str | None
    cassettes: Path
    plots: bool
    executor: str = "local"
    ray_address: str | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> EvalOptions:
        here = Path(config.invocation_params.dir)

        def path(value: str | None, default: Path) -> Path:
            return default if value is None else here / value

        epochs = config.getoption("harness_epochs")
        concurrency = config.getoption("harness_concurrency")
        try:
            check_settings({"epochs": epochs, "concurrency": concurrency,
                            "max_cost_usd": config.getoption("harness_max_cost")}, OPTION_FLAGS)
        except SettingError as exc:
            raise pytest.UsageError(str(exc)) from None
        baseline = config.getoption("harness_baseline")
        executor, ray_address = config.getoption("harness_executor"), config.getoption("harness_ray_address")
        if ray_address and executor != "ray":
            raise pytest.UsageError("--eval-ray-address needs --eval-executor ray")
        return cls(
            record_mode=config.getoption("harness_record_mode"),
            variants=tuple(config.getoption("harness_variants") or ()),
            epochs=epochs,
            concurrency=concurrency,
            runs_dir=path(config.getoption("harness_report_dir"), config.rootpath / "reports" / "runs"),
            baseline=None if baseline is None else here / baseline,
            max_cost=config.getoption("harness_max_cost"),
            base_url=config.getoption("harness_base_url"),
            cassettes=path(config.getoption("harness_cassettes"), config.rootpath / "cassettes"),
            plots=not config.getoption("harness_no_plots"),
            executor=executor,
            ray_address=ray_address,
        )


def k_safe(text: str) -> str:
    """A variant name (or a ``-k`` expression) as ``-k`` can spell it: ``triage@v2`` -> ``triage_at_v2``."""
    return text.replace("@", "_at_")

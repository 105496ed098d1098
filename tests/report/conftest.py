"""Synthetic run folders for report tests (built with RunFolder.create + ResultWriter)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic_runs import VariantSpec

CALIBRATION = {"grader": "helpfulness", "labels": ["fail", "pass"], "confusion": [[40, 5], [3, 52]]}


@pytest.fixture
def ab_run(make_run_folder: Callable[..., Path]) -> Path:
    """Baseline v1, a degraded v2 (lower accuracy, slower, dearer, some errors) and an unchanged v3."""
    return make_run_folder(
        [
            VariantSpec("triage@v1", accuracy=0.85),
            VariantSpec("triage@v2", accuracy=0.55, latency_s=2.0, cost_usd=0.002, tokens=900,
                        grader_error_rate=0.05, error_tasks=frozenset({"task-0003", "task-0007"})),
            VariantSpec("triage@v3", accuracy=0.85),
        ],
        n_tasks=60, baseline_variant="triage@v1", totals={"judge_calibration": CALIBRATION},
        notes=["replayed from cassettes"],
    )


@pytest.fixture
def epochs_run(make_run_folder: Callable[..., Path]) -> Path:
    return make_run_folder([VariantSpec("a", accuracy=0.8), VariantSpec("b", accuracy=0.5)], n_tasks=20, epochs=4,
                           seed=5)

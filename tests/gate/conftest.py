"""Synthetic run folders for gate tests (built with RunFolder.create + ResultWriter)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic_runs import VariantSpec


@pytest.fixture
def new_run(make_run_folder: Callable[..., Path]) -> Callable[..., Path]:
    """``new_run([VariantSpec(...)], n_tasks=..., status=...)`` -> a run folder path."""
    return make_run_folder


@pytest.fixture
def two_variant_run(new_run: Callable[..., Path]) -> Path:
    """triage@v1 (good) and triage@v2 (degraded: lower accuracy, slower, dearer, grader errors)."""
    return new_run(
        [VariantSpec("triage@v1", accuracy=0.9),
         VariantSpec("triage@v2", accuracy=0.6, latency_s=6.0, cost_usd=0.004, grader_error_rate=0.1)],
        n_tasks=80, baseline_variant="triage@v1",
        totals={"judge_calibration": {"grader": "helpfulness", "labels": ["fail", "pass"],
                                      "confusion": [[40, 5], [3, 52]]}},
    )

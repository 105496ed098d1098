"""Pass-rate verdicts come from scipy.special and agree with scipy.stats; a gate on pass rates never imports scipy.stats.

McNemar's exact test, the Clopper-Pearson interval and McNemar's rejection region are computed
with scipy.special's binomial and beta functions, because importing scipy.stats is most of a
fresh ``harness gate``'s time. These tests hold them to scipy.stats's own answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from synthetic_runs import VariantSpec

from harness.analysis import power, stats
from harness.core.gate_spec import Gate
from harness.core.results import RunFolder


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_mcnemar_exact_is_scipys_binomtest(alternative: stats.Alternative) -> None:
    for discordant in [*range(1, 60), 99, 100, 257, 1000, 4001]:
        for candidate_only in sorted({0, 1, 2, discordant // 3, discordant // 2, (discordant + 1) // 2,
                                      discordant - 1, discordant} & set(range(discordant + 1))):
            expected = sps.binomtest(candidate_only, discordant, 0.5, alternative=alternative).pvalue
            got = stats.mcnemar_exact(discordant - candidate_only, candidate_only, alternative)
            assert got == pytest.approx(expected, rel=1e-11, abs=1e-300), (candidate_only, discordant)


def test_clopper_pearson_is_scipys_beta_quantile() -> None:
    for n in [1, 2, 5, 17, 100, 999]:
        for successes in sorted({0, 1, n // 2, n - 1, n}):
            for confidence in (0.8, 0.9, 0.95, 0.99):
                tail = (1 - confidence) / 2
                low = 0.0 if successes == 0 else sps.beta.ppf(tail, successes, n - successes + 1)
                high = 1.0 if successes == n else sps.beta.ppf(1 - tail, successes + 1, n - successes)
                assert stats.clopper_pearson(successes, n, confidence) == (low, high)


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.0125, 0.05, 0.1, 0.2])
def test_mcnemar_rejection_region_is_the_binomial_quantile(alpha: float) -> None:
    d = np.arange(0, 4097)
    k = sps.binom.ppf(alpha / 2, d, 0.5)
    expected = np.where(sps.binom.cdf(k, d, 0.5) <= alpha / 2, k, k - 1)
    assert np.array_equal(power._mcnemar_critical(alpha, 4096), expected)


def test_a_gate_on_pass_rates_never_imports_scipy_stats(make_run_folder: Callable[..., Path]) -> None:
    run = make_run_folder([VariantSpec("triage@v1", 0.8), VariantSpec("triage@v2", 0.7)], n_tasks=60,
                          baseline_variant="triage@v1")
    folder = RunFolder(run)
    gates = [Gate.metric("accuracy", ">=", 0.5), Gate.no_regression("accuracy", tolerance=0.05)]
    folder.write_manifest(folder.manifest().model_copy(update={"gates": [g.model_dump(mode="json") for g in gates]}))
    script = ("import json, sys\nfrom harness.cli import main\nsys.argv = ['harness', 'gate', sys.argv[1], '--json']\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "print(json.dumps({'scipy.stats': 'scipy.stats' in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", script, str(run)], capture_output=True, text=True, timeout=120,
                          check=False)
    *verdict, imported = done.stdout.strip().splitlines()
    results = json.loads("\n".join(verdict))["results"]
    compared = [r["comparison"] for r in results if r["comparison"] is not None]
    assert compared and all(c["test"] == "mcnemar-exact" and c["tasks_needed"] for c in compared), results
    assert json.loads(imported) == {"scipy.stats": False}

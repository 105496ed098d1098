"""One verdict per question: every surface renders the analysis layer's comparison, never its own.

Scenario runs have code-only outcomes (no model calls) written by ``make_scenario_run``; each
scenario is one the issue found where two surfaces disagreed, or a surface said "ship" on a
regression.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import pytest
from synthetic_runs import make_scenario_run

from harness.analysis.summary import analyse
from harness.core.gate_spec import Gate
from harness.gate import evaluate_gates
from harness.pytest_plugin.gates import judge_gates
from harness.report.writer import write_report
from harness.view.catalog import _analyse as viewer_analysis

N = 50
_HEADLINE = Path(__file__).resolve().parents[2] / "scripts" / "headline.py"
_spec = importlib.util.spec_from_file_location("headline_script", _HEADLINE)
assert _spec is not None and _spec.loader is not None
_headline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_headline)
headline_lines = _headline.headline


def _passes(failing: set[int]) -> list[float]:
    return [0.0 if t in failing else 1.0 for t in range(N)]


BASE_FAILS = set(range(35, 50))
BAD_FAILS = BASE_FAILS | set(range(7))  # loses 7 tasks the baseline passed, gains none


def _noisy(seed: int) -> list[float]:
    """Equal to the baseline on average: 10 of its passes fail, 10 of its failures pass."""
    flipped_down = set(range(10 + seed, 20 + seed))
    flipped_up = set(range(35, 45))
    return _passes((BASE_FAILS - flipped_up) | flipped_down)


def _surfaces(folder: Path, candidate: str, metric: str, baseline: str = "base") -> dict[str, Any]:
    """The label and adjusted p each surface gives (candidate vs baseline on metric), and exit codes."""
    def pick(rows: list[dict[str, Any]]) -> dict[str, Any]:
        row = next(r for r in rows if r["candidate"] == candidate and r["metric"] == metric
                   and r["baseline"] == baseline)
        result: dict[str, Any] = row["result"]
        return result

    gates = evaluate_gates(folder)
    gate_row = next(r for r in gates.results if r.variant == candidate and r.metric == metric
                    and r.comparison is not None)
    assert gate_row.comparison is not None
    report = write_report(folder, gates=gates, plots=False)
    summary_json = json.loads(report.summary_json.read_text())
    compare = analyse(folder, baseline, candidates=[candidate]).summary.model_dump(mode="json")
    viewer = viewer_analysis(folder)
    judgement = judge_gates(folder, 1, 1, None)
    return {
        "gate": gate_row.comparison.model_dump(mode="json"),
        "report": pick(summary_json["comparisons"]),
        "compare": pick(compare["comparisons"]),
        "viewer": pick(viewer["summary"]["comparisons"]),
        "exit_codes": {int(gates.exit_code), int(judgement.exit_code), int(viewer["gates"]["exit_code"]),
                       int(summary_json["gates"]["exit_code"])},
    }


@pytest.mark.parametrize("declared", [False, True], ids=["baseline-variant", "declared-pairs"])
def test_unrelated_candidates_do_not_hide_a_regression(tmp_path: Path, declared: bool) -> None:
    outcomes = {"base": {"right": _passes(BASE_FAILS)}, "bad": {"right": _passes(BAD_FAILS)},
                **{f"n{i}": {"right": _noisy(i)} for i in range(3)}}
    pairs = [("base", v) for v in outcomes if v != "base"] if declared else []
    folder = make_scenario_run(tmp_path, outcomes, baseline_variant="base", comparisons=pairs,
                               gates=[Gate.no_regression("right")])
    seen = _surfaces(folder, "bad", "right")
    assert seen["gate"]["label"] == "worse", seen
    assert seen["gate"] == seen["report"] == seen["compare"] == seen["viewer"], seen
    assert seen["exit_codes"] == {1}
    # the question is "worse?": one-sided exact McNemar, 7 losses and no win, alone in its family
    assert seen["gate"]["p_adjusted"] == pytest.approx(0.5**7)
    assert (seen["gate"]["baseline_only"], seen["gate"]["candidate_only"]) == (7, 0)
    assert seen["gate"]["alternative"] == "less" and seen["gate"]["ci"]["high"] < 0


def test_other_graders_do_not_change_a_gated_verdict(tmp_path: Path) -> None:
    noisy_a = [float(t % 2) for t in range(N)]
    noisy_b = [float((t // 2) % 2) for t in range(N)]
    outcomes = {"base": {"right": _passes(BASE_FAILS), "style": noisy_a, "tone": noisy_b},
                "bad": {"right": _passes(BAD_FAILS), "style": noisy_b, "tone": noisy_a}}
    folder = make_scenario_run(tmp_path, outcomes, baseline_variant="base", gates=[Gate.no_regression("right")])
    seen = _surfaces(folder, "bad", "right")
    assert seen["gate"]["label"] == "worse"
    assert seen["gate"] == seen["report"] == seen["compare"] == seen["viewer"], seen
    assert seen["exit_codes"] == {1}


def test_compare_keeps_the_gate_family_when_a_second_grader_measures_the_same_thing(tmp_path: Path) -> None:
    drop = [1.0] * 6 + [0.0] * 4
    base = [1.0] * 10
    outcomes = {"base": {"tripwires": base, "tripwires_again": base},
                "cand": {"tripwires": drop[:], "tripwires_again": drop[:]}}
    outcomes["cand"]["tripwires"] = [0.5 if t < 10 else 1.0 for t in range(10)]
    folder = make_scenario_run(tmp_path, outcomes, baseline_variant="base",
                               gates=[Gate.no_regression("tripwires")])
    seen = _surfaces(folder, "cand", "tripwires")
    assert seen["gate"]["label"] == "worse"
    assert seen["gate"] == seen["report"] == seen["compare"] == seen["viewer"], seen
    assert seen["exit_codes"] == {1}


def _random_scenario(tmp_path: Path, seed: int) -> tuple[Path, list[tuple[str, str]]]:
    """Several candidates, graders (pass/fail and graded), task errors, epochs, declared pairs, gates."""
    rng = random.Random(seed)
    epochs = rng.choice([1, 1, 2, 3])
    n_tasks = rng.choice([8, 20, 40])
    variants = ["base", *(f"c{i}" for i in range(rng.randint(2, 4)))]
    metrics = [f"g{i}" for i in range(rng.randint(1, 3))]
    graded = {m: rng.random() < 0.4 for m in metrics}
    skill = {v: rng.uniform(0.4, 0.9) for v in variants}
    outcomes: dict[str, dict[str, list[float]]] = {}
    for v in variants:
        outcomes[v] = {}
        for m in metrics:
            values = [float(rng.random() < skill[v]) for _ in range(n_tasks * epochs)]
            outcomes[v][m] = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) if graded[m] else x for x in values]
    errors = {v: rng.sample(range(n_tasks * epochs), rng.randint(0, 3)) for v in variants}
    declared = rng.random() < 0.5
    pairs = [("base", v) for v in variants[1:]]
    if declared:
        pairs.append((variants[1], variants[2]))
    gates: list[Any] = [Gate.no_regression(rng.choice([*metrics, "pass_rate"]))]
    if rng.random() < 0.5:
        gates.append(Gate.no_regression(rng.choice(metrics), variant="c0", tolerance=rng.choice([0.0, 0.05])))
    folder = make_scenario_run(tmp_path, outcomes, epochs=epochs, baseline_variant="base",
                               comparisons=pairs if declared else [], gates=gates, errors=errors,
                               run_id=f"20250101T000000Z-random-{seed:04d}")
    return folder, pairs


@pytest.mark.parametrize("seed", range(8))
def test_every_surface_gives_the_same_verdicts_on_random_scenarios(tmp_path: Path, seed: int) -> None:
    folder, pairs = _random_scenario(tmp_path, seed)
    gates = evaluate_gates(folder)
    report = write_report(folder, gates=gates, plots=False)
    summary = json.loads(report.summary_json.read_text())
    viewer = viewer_analysis(folder)
    judgement = judge_gates(folder, 1, 1, None)
    assert int(gates.exit_code) == int(judgement.exit_code) == viewer["gates"]["exit_code"] \
        == summary["gates"]["exit_code"]
    assert viewer["summary"]["comparisons"] == summary["comparisons"]

    def key(row: dict[str, Any]) -> tuple[str, str, str]:
        return row["baseline"], row["candidate"], row["metric"]

    shown = {key(r): r for r in summary["comparisons"]}
    for base, cand in pairs:
        asked = analyse(folder, base, candidates=[cand]).summary.model_dump(mode="json")["comparisons"]
        for row in asked:
            if key(row) in shown:
                assert row == shown[key(row)], (seed, key(row))
    for result in gates.results:
        if result.comparison is None:
            continue
        row = shown[(result.baseline, result.variant, result.metric)]  # type: ignore[index]
        assert row["result"] == result.comparison.model_dump(mode="json")
        assert row["question"] == "release" and row["result"]["alternative"] in ("less", "greater")
    headline = "\n".join(headline_lines(folder.parent))
    worse = [r for r in summary["comparisons"] if r["result"]["label"] == "worse"]
    regressed = headline.split("Regressed (paired test: worse):")[1].split("Losses not confirmed")[0]
    assert sum(line.startswith("  [") for line in regressed.splitlines()) == len(worse)


def test_every_surface_names_the_confidence_of_a_release_tests_interval(tmp_path: Path) -> None:
    """A "worse?" test's interval is the two-sided one at 1 - 2 alpha: the gate message, the report's
    cell and the headline say 90%, never the 95% the other intervals have."""
    outcomes = {"base": {"right": _passes(BASE_FAILS)}, "bad": {"right": _passes(BAD_FAILS)}}
    folder = make_scenario_run(tmp_path, outcomes, baseline_variant="base", gates=[Gate.no_regression("right")])
    gates = evaluate_gates(folder)
    (result,) = [r for r in gates.results if r.comparison is not None]
    assert result.comparison is not None and result.comparison.ci.confidence == pytest.approx(0.90)
    assert "90% CI [" in result.message and "95% CI" not in result.message
    report = write_report(folder, gates=gates, plots=False)
    row = next(line for line in report.markdown.read_text().splitlines() if line.startswith("| bad") and "| base" in line)
    assert "(90%)" in row, row
    assert "90% CI" in "\n".join(headline_lines(folder.parent))


def test_the_headline_lists_a_loss_the_family_correction_cannot_confirm(tmp_path: Path) -> None:
    """Alone p < 0.05, after Holm over the pair's other metrics not: shown as unconfirmed, not hidden."""
    lost = set(range(6))  # the candidate loses 6 tasks, wins none: exact McNemar two-sided p = 0.031
    # Three more metrics that could reach significance (6 tasks flip) but move both ways: Holm x 4.
    both_ways = (BASE_FAILS - {35, 36, 37}) | {0, 1, 2}
    outcomes = {"base": {"right": _passes(BASE_FAILS), **{f"m{i}": _passes(BASE_FAILS) for i in range(3)}},
                "cand": {"right": _passes(BASE_FAILS | lost), **{f"m{i}": _passes(both_ways) for i in range(3)}}}
    folder = make_scenario_run(tmp_path, outcomes, baseline_variant="base")
    write_report(folder, gates=evaluate_gates(folder), plots=False)
    headline = "\n".join(headline_lines(folder.parent))
    unconfirmed = headline.split("Losses not confirmed after Holm's correction (p < 0.05 alone):")[1]
    assert "cand vs base on right" in unconfirmed.split("Gates that failed:")[0], headline
    assert "cand vs base on right" not in headline.split("Regressed (paired test: worse):")[1].split("Losses")[0]


def test_cassette_misses_make_a_run_incomplete_never_worse(tmp_path: Path) -> None:
    """After a prompt edit, 8 units had no recording: the gate said "worse" (p = 0.0078) instead of
    asking for a re-record. A miss measures nothing about the candidate: exit 3 with the command."""
    outcomes = {"base": {"facts": [1.0] * 20}, "cand": {"facts": [1.0] * 20}}
    folder = make_scenario_run(tmp_path, outcomes, baseline_variant="base", gates=[Gate.no_regression("facts")],
                               errors={"cand": range(8)}, error_kind="cassette_miss", max_error_rate=0.5)
    report = evaluate_gates(folder)
    assert int(report.exit_code) == 3, report.messages()
    assert any("8 unit(s) have no recording" in p and "--record-mode once" in p for p in report.problems)


def test_a_run_whose_every_unit_errored_is_incomplete(tmp_path: Path) -> None:
    outcomes = {"only": {"facts": [1.0] * 6}}
    folder = make_scenario_run(tmp_path, outcomes, errors={"only": range(6)}, max_error_rate=1.0)
    report = evaluate_gates(folder)
    assert int(report.exit_code) == 3
    assert any("every one of the run's 6 units errored" in p for p in report.problems)


def test_a_no_regression_gate_that_cannot_fail_is_a_configuration_error(tmp_path: Path) -> None:
    """4 tasks, 4/4 -> 0/4: even the most extreme drop gives one-sided p = 0.0625 > 0.05."""
    outcomes = {"base": {"right": [1.0] * 4}, "cand": {"right": [0.0] * 4}}
    folder = make_scenario_run(tmp_path, outcomes, baseline_variant="base", gates=[Gate.no_regression("right")])
    report = evaluate_gates(folder)
    assert int(report.exit_code) == 2
    assert any("needs at least 5 tasks" in p for p in report.problems), report.problems


def test_five_tasks_all_lost_fail_a_no_regression_gate(tmp_path: Path) -> None:
    """The issue's 5/5 -> 0/5: two-sided p = 0.0625 passed it; the question is one-sided: p = 0.031."""
    outcomes = {"base": {"right": [1.0] * 5}, "cand": {"right": [0.0] * 5}}
    folder = make_scenario_run(tmp_path, outcomes, baseline_variant="base", gates=[Gate.no_regression("right")])
    report = evaluate_gates(folder)
    assert int(report.exit_code) == 1
    (result,) = report.results
    assert result.comparison is not None and result.comparison.p_value == pytest.approx(0.5**5)


def _baseline_and_candidate(tmp_path: Path, *, cand_ids: list[str], changed: tuple[str, ...] = ()
                            ) -> tuple[Path, Path]:
    ids = [f"task-{t:04d}" for t in range(N)]
    base = make_scenario_run(tmp_path / "a", {"v": {"right": [1.0] * N}}, run_id="20250101T000000Z-base",
                             task_ids=ids, gates=[Gate.no_regression("right")])
    values = [0.0 if i in changed else 1.0 for i in cand_ids]
    cand = make_scenario_run(tmp_path / "b", {"v": {"right": values}}, run_id="20250101T000001Z-cand",
                             task_ids=cand_ids, changed=changed, gates=[Gate.no_regression("right")])
    return base, cand


def test_a_baseline_run_with_tasks_the_candidate_lacks_makes_the_candidate_partial(tmp_path: Path) -> None:
    """The candidate's dataset dropped the 15 tasks it failed: n = 35 and "no regression" was exit 0."""
    ids = [f"task-{t:04d}" for t in range(N)]
    base, cand = _baseline_and_candidate(tmp_path, cand_ids=ids[15:])
    report = evaluate_gates(cand, baseline=base)
    assert int(report.exit_code) == 3, report.problems
    assert any("15 of its tasks are missing (task-0000, task-0001" in p for p in report.problems)
    assert analyse(cand, base).summary.partial_against_baseline == ids[:15]
    allowed = evaluate_gates(cand, baseline=base, allow_dataset_change=True)
    assert int(allowed.exit_code) == 0 and any("DATASET CHANGE" in p and "35 unchanged" in p
                                               for p in allowed.problems)


def test_a_baseline_run_whose_tasks_changed_under_the_same_id_is_refused(tmp_path: Path) -> None:
    ids = [f"task-{t:04d}" for t in range(N)]
    changed = tuple(ids[:10])
    base, cand = _baseline_and_candidate(tmp_path, cand_ids=ids, changed=changed)
    report = evaluate_gates(cand, baseline=base)
    assert int(report.exit_code) == 2
    assert any("10 task(s) changed under the same id: task-0000" in p for p in report.problems), report.problems
    with pytest.raises(ValueError, match="changed under the same id"):
        analyse(cand, base)
    allowed = evaluate_gates(cand, baseline=base, allow_dataset_change=True)
    (result,) = allowed.results
    assert result.comparison is not None and result.comparison.n == 40 and result.status == "pass"
    summary = analyse(cand, base, allow_dataset_change=True).summary
    assert any("DATASET CHANGE" in note for note in summary.notes)
    row = next(r for r in summary.comparisons if r.metric == "right")
    assert row.result == result.comparison  # the report compares the same 40 tasks the gate does

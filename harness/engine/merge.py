"""Merging shard run folders into one run that reports and gates as if it had run in one process.

``harness run --shard i/N`` runs a stable subset of tasks (by a hash of the task id) — what a
CI matrix needs. ``harness merge`` joins the shards: one manifest, rows in a canonical order,
totals summed. Shards must come from the same suite, variants (by settings hash) and dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.core.clock import utc_now
from harness.core.results import (
    ResultRow,
    ResultWriter,
    RunFolder,
    RunFolderError,
    RunManifest,
    new_run_id,
)

__all__ = ["merge_runs", "MergeError"]


class MergeError(RunFolderError):
    pass


def _check_compatible(manifests: Sequence[RunManifest]) -> None:
    first = manifests[0]
    for other in manifests[1:]:
        if other.suite != first.suite:
            raise MergeError(f"cannot merge runs of different suites: '{first.suite}' and '{other.suite}'")
        if [v.settings_hash for v in other.variants] != [v.settings_hash for v in first.variants]:
            raise MergeError(f"run {other.run_id} ran different variants or settings than {first.run_id}")
        if other.dataset.get("sha256") != first.dataset.get("sha256"):
            raise MergeError(f"run {other.run_id} used a different dataset file than {first.run_id}")


def _sum_totals(manifests: Sequence[RunManifest]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for manifest in manifests:
        for key, value in manifest.totals.items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value
    return totals


def merge_runs(paths: Sequence[str | Path], runs_dir: Path) -> RunFolder:
    """Join shard run folders into a new run folder under ``runs_dir``."""
    if not paths:
        raise MergeError("give at least one run folder to merge")
    folders = [RunFolder.open(p) for p in paths]
    manifests = [f.manifest() for f in folders]
    _check_compatible(manifests)
    rows: dict[tuple[str, str, int], ResultRow] = {}
    for folder in folders:
        for row in folder.rows():
            if row.key in rows:
                raise MergeError(f"{row.key} appears in more than one shard; were the shards overlapping?")
            rows[row.key] = row
    first = manifests[0]
    statuses = {m.status for m in manifests}
    merged = first.model_copy(update={
        "run_id": new_run_id(first.suite),
        "created_at": min(m.created_at for m in manifests),
        "finished_at": utc_now(),
        "shard": None,
        "status": "complete" if statuses == {"complete"} else min(statuses - {"complete"}),
        "dataset": first.dataset | {"tasks": sum(int(m.dataset.get("tasks", 0)) for m in manifests)},
        "totals": _sum_totals(manifests),
        "notes": [*first.notes, f"merged from {len(folders)} shards: {', '.join(m.run_id for m in manifests)}"],
    })
    folder = RunFolder.create(runs_dir, merged)
    writer = ResultWriter(folder.results_path)
    try:
        for key in sorted(rows):
            writer.write(rows[key].model_copy(update={"run_id": merged.run_id}))
    finally:
        writer.close()
    return folder

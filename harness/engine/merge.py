"""Merging run folders of one suite into one run that reports and gates as if it had run in one process.

``harness run --shard i/N`` runs a stable subset of tasks (by a hash of the task id) — what a
CI matrix needs — and ``harness merge`` joins the shards. The pytest plugin joins the parts it
ran for a selection that is not a rectangle (``--lf``), whose variant sets differ. Either way:
one manifest, rows in a canonical order, totals summed. The runs must come from the same suite
and dataset, and a variant in several of them must have the same settings in each; no
(variant, task, epoch) may appear twice.
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
    settings: dict[str, tuple[str, str]] = {}
    for other in manifests:
        if other.suite != first.suite:
            raise MergeError(f"cannot merge runs of different suites: '{first.suite}' and '{other.suite}'")
        if other.dataset.get("sha256") != first.dataset.get("sha256"):
            raise MergeError(f"run {other.run_id} used a different dataset file than {first.run_id}")
        for variant in other.variants:
            seen = settings.setdefault(variant.name, (variant.settings_hash, other.run_id))
            if seen[0] != variant.settings_hash:
                raise MergeError(f"run {other.run_id} ran variant '{variant.name}' with different settings "
                                 f"than {seen[1]}")


def _task_count(manifests: Sequence[RunManifest], task_ids: Sequence[set[str]]) -> tuple[int, list[str] | None]:
    """How many distinct tasks the runs cover, and their ids when any run was a selection of ids.

    Shards hold disjoint tasks, parts may share them: a run's tasks are the ids it selected (else
    those it has rows for), plus any it counted but never started (a budget stop), which no other
    run can share.
    """
    named: set[str] = set()
    unnamed = 0
    for manifest, seen in zip(manifests, task_ids, strict=True):
        ids = set(manifest.dataset.get("ids") or ()) or seen
        named |= ids
        unnamed += max(0, int(manifest.dataset.get("tasks", 0)) - len(ids))
    selected = any(manifest.dataset.get("ids") for manifest in manifests)
    return len(named) + unnamed, sorted(named) if selected else None


def _sum_totals(manifests: Sequence[RunManifest]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for manifest in manifests:
        for key, value in manifest.totals.items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value
    return totals


def merge_runs(paths: Sequence[str | Path], runs_dir: Path, *, variant_order: Sequence[str] = (),
               note: str | None = None) -> RunFolder:
    """Join run folders of one suite (shards, or parts of a selection) into a new run folder under ``runs_dir``.

    ``variant_order``: the suite's order of variants (default: as the runs list them); ``note``:
    what the merged run's notes say about where it came from.
    """
    if not paths:
        raise MergeError("give at least one run folder to merge")
    folders = [RunFolder.open(p) for p in paths]
    manifests = [f.manifest() for f in folders]
    _check_compatible(manifests)
    rows: dict[tuple[str, str, int], ResultRow] = {}
    task_ids: list[set[str]] = []
    for folder in folders:
        seen: set[str] = set()
        for row in folder.rows():
            if row.key in rows:
                raise MergeError(f"{row.key} appears in more than one run; were the shards overlapping?")
            rows[row.key] = row
            seen.add(row.task_id)
        task_ids.append(seen)
    variants = {v.name: v for m in manifests for v in m.variants}
    rank = {name: i for i, name in enumerate(dict.fromkeys([*variant_order, *variants]))}
    first = manifests[0]
    tasks, ids = _task_count(manifests, task_ids)
    statuses = {m.status for m in manifests}
    merged = first.model_copy(update={
        "run_id": new_run_id(first.suite),
        "created_at": utc_now(),  # the merged run is new: `latest` must pick it, not a shard
        "finished_at": utc_now(),
        "shard": None,
        "status": "complete" if statuses == {"complete"} else min(statuses - {"complete"}),
        "variants": sorted(variants.values(), key=lambda v: rank[v.name]),
        "dataset": first.dataset | {"tasks": tasks} | ({} if ids is None else {"ids": ids}),
        "totals": _sum_totals(manifests),
        "notes": [*first.notes, note or f"merged from {len(folders)} shards: {', '.join(m.run_id for m in manifests)}"],
    })
    folder = RunFolder.create(runs_dir, merged)
    writer = ResultWriter(folder.results_path)
    try:
        for key in sorted(rows, key=lambda k: (rank.get(k[0], len(rank)), k[1], k[2])):
            writer.write(rows[key].model_copy(update={"run_id": merged.run_id}))
    finally:
        writer.close()
    return folder

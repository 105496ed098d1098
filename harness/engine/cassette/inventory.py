"""What is recorded, what is used, what is stale: ``harness cassettes status|prune``.

A cassette is *unused* when no current (variant, task, epoch) of its suite would replay it (the
task left the dataset, the variant was renamed), *stale* when the prompt, settings or model it
was recorded with differ from the variant's current ones (replay will likely miss), and a task
is *missing* when it has no recording at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.context import RequestContext
from harness.engine.cassette.store import cassette_path
from harness.engine.suite import Suite

__all__ = ["CassetteInfo", "CassetteStatus", "scan", "status", "prune"]


@dataclass(frozen=True)
class CassetteInfo:
    path: Path
    meta: dict[str, Any]

    @property
    def channel(self) -> str:
        return str(self.meta.get("channel", "flow"))


@dataclass
class CassetteStatus:
    suite: str
    used: list[CassetteInfo] = field(default_factory=list)
    unused: list[CassetteInfo] = field(default_factory=list)
    stale: list[tuple[CassetteInfo, list[str]]] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.unused or self.stale or self.missing)


def _meta(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"unreadable": True}
    return dict(((data.get("metadata") or {}).get("harness")) or {})


def scan(root: Path, suite: str | None = None) -> list[CassetteInfo]:
    """Every flow cassette under ``root`` (or under one suite's folder)."""
    base = root / suite if suite else root
    if not base.is_dir():
        return []
    return [CassetteInfo(p, _meta(p)) for p in sorted(base.rglob("*.json"))
            if "_judges" not in p.parts and not p.name.startswith(".")]


def _differences(meta: dict[str, Any], variant: Any) -> list[str]:
    changed = []
    prompt = variant.prompt.sha256 if variant.prompt else None
    if meta.get("prompt_sha256") != prompt:
        changed.append("prompt")
    if meta.get("model") != variant.model.model:
        changed.append("model")
    if meta.get("settings_hash") != variant.settings_hash and "prompt" not in changed and "model" not in changed:
        changed.append("settings")
    return changed


def status(suite: Suite, root: Path) -> CassetteStatus:
    """Compare the recordings of a suite with what the suite would replay now."""
    tasks = suite.resolved_dataset().tasks()
    expected: dict[Path, Any] = {}
    for variant in suite.variants:
        for task in tasks:
            for epoch in range(1, suite.epochs + 1):
                path = cassette_path(root, RequestContext(suite.name, variant.name, task.id, epoch))
                expected[path.resolve()] = variant
    report = CassetteStatus(suite=suite.name)
    found = {info.path.resolve(): info for info in scan(root, suite.name)}
    for path, info in found.items():
        variant = expected.get(path)
        if variant is None:
            report.unused.append(info)
            continue
        report.used.append(info)
        changed = _differences(info.meta, variant)
        if changed:
            report.stale.append((info, changed))
    report.missing = sorted(p for p in expected if p not in found)
    return report


def prune(report: CassetteStatus) -> list[Path]:
    """Delete the unused cassettes of a status report; returns what was removed."""
    removed = []
    for info in report.unused:
        info.path.unlink(missing_ok=True)
        removed.append(info.path)
    return removed

"""Production capture: an app's Agents SDK traces, kept so they can become replayable eval tasks.

In the app, one call (``harness.capture.install(folder, sample=…)``); then
``harness traces list/show/import`` find the traces that matter and turn them into dataset rows
and cassettes (docs/capture.md). The names here are imported on first use, so ``import
harness.capture`` costs nothing until a name is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.capture.production import CaptureError, feedback, flush, install, stats, trace, uninstall

__all__ = ["install", "uninstall", "trace", "feedback", "flush", "stats", "CaptureError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from harness.capture import production

        return getattr(production, name)
    raise AttributeError(f"module 'harness.capture' has no attribute {name!r}")

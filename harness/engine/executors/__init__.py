"""Where a run's units execute: this process, forked worker processes, or a Ray cluster.

The runner owns the loop that runs units (:meth:`harness.runner._Run.drive`) and the run
folder; an :class:`Executor` decides where that loop runs and brings the rows back, so every
executor writes the same run folder. ``harness run --executor ray`` needs the ``ray`` extra,
imported only when asked for.
"""

from __future__ import annotations

from typing import Any

from harness.engine.executors.base import Executor, ExecutorUnavailable
from harness.engine.executors.local import LocalExecutor

__all__ = ["Executor", "ExecutorUnavailable", "LocalExecutor", "EXECUTORS",
           "check_executor", "open_executor"]

#: The values ``--executor`` takes.
EXECUTORS = ("local", "ray")


def check_executor(kind: str, ray_address: str | None) -> None:
    """Refuse an unknown executor, or a Ray address for the local one (a typo'd flag runs locally)."""
    if kind not in EXECUTORS:
        raise ExecutorUnavailable(f"--executor must be one of {', '.join(EXECUTORS)}; got '{kind}'")
    if ray_address and kind != "ray":
        raise ExecutorUnavailable("--ray-address needs --executor ray")


def open_executor(kind: str = "local", *, workers: int | None = None, ray_address: str | None = None,
                  ray_runtime_env: dict[str, Any] | None = None) -> Executor:
    """The executor asked for; a Ray one is connected to its cluster already (or raised why not)."""
    check_executor(kind, ray_address)
    if kind == "ray":
        from harness.engine.executors.ray_cluster import RayExecutor

        return RayExecutor(ray_address, workers, runtime_env=ray_runtime_env)
    return LocalExecutor(workers)

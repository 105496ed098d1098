"""Each suite runs once per session, in whichever process (xdist worker) reaches it first.

A :class:`filelock.FileLock` per suite serialises the processes: the holder runs the suite and
publishes a small JSON file naming the run folder, and every process that then gets the lock
finds that file and reads it. The operating system releases a dead holder's lock, so a worker
that dies mid-run needs no detection: the next waiter gets the lock, finds nothing published,
and runs the suite itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.core.atomic import write_text_atomic

__all__ = ["Coordinator", "file_key"]


def file_key(nodeid: str) -> str:
    """A file name for a suite's node id: readable, and unique by a hash."""
    readable = "".join(c if c.isalnum() or c in "-_." else "_" for c in nodeid)[-60:]
    return f"{readable}-{hashlib.sha1(nodeid.encode()).hexdigest()[:10]}"


class Coordinator:
    """Runs each keyed piece of work once across the processes sharing ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def once(self, key: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The published result for ``key``, running ``work`` first if no process has yet."""
        self.root.mkdir(parents=True, exist_ok=True)
        done = self.root / f"{key}.json"
        with FileLock(self.root / f"{key}.lock"):
            if done.is_file():
                return dict(json.loads(done.read_text(encoding="utf-8")))
            try:
                info = work()
            except BaseException as exc:  # interrupted: tell the waiters, then go on unwinding
                self._publish(done, {"error": f"the suite run was interrupted ({type(exc).__name__})"})
                raise
            self._publish(done, info)
            return info

    def results(self) -> list[dict[str, Any]]:
        """Every result published in this session."""
        if not self.root.is_dir():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.root.glob("*.json"))]

    @staticmethod
    def _publish(path: Path, info: dict[str, Any]) -> None:
        write_text_atomic(path, json.dumps(info))

"""What code a run ran with, as run.json records it: the git commit, whether the tree was dirty, package versions.

Asked once per run, before its first unit starts, so their cost is part of every run's start
(bench/live_overhead.py and bench/runner_throughput.py measure runs of 2,000 calls, where each
millisecond here is half a microsecond a call).
"""

from __future__ import annotations

import importlib.metadata
import subprocess

__all__ = ["git_commit", "git_dirty", "git_state", "packages", "PACKAGES"]

#: The packages whose versions ``run.json`` records.
PACKAGES = ("orchestration-harness", "openai", "openai-agents", "vcrpy", "httpx2", "pydantic", "pandas")

_COMMIT = ("rev-parse", "HEAD")
_STATUS = ("status", "--porcelain", "--untracked-files=no")


def _start(*args: str) -> subprocess.Popen[str] | None:
    try:
        return subprocess.Popen(["git", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None


def _finish(process: subprocess.Popen[str] | None) -> str | None:
    if process is None:
        return None
    try:
        out, _ = process.communicate(timeout=5)
    except subprocess.SubprocessError:
        process.kill()
        process.communicate()
        return None
    return out if process.returncode == 0 else None


def _git(*args: str) -> str | None:
    return _finish(_start(*args))


def _commit_of(out: str | None) -> str | None:
    return (out or "").strip() or None


def _dirty_of(status: str | None) -> bool | None:
    return None if status is None else bool(status.strip())


def git_commit() -> str | None:
    return _commit_of(_git(*_COMMIT))


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (untracked files do not count); None outside git."""
    return _dirty_of(_git(*_STATUS))


def git_state() -> tuple[str | None, bool | None]:
    """:func:`git_commit` and :func:`git_dirty`, the two ``git`` processes run at once: a run
    waited for one and then the other (about 10 ms of a run's start on this machine, a busy one)."""
    commit, status = _start(*_COMMIT), _start(*_STATUS)
    return _commit_of(_finish(commit)), _dirty_of(_finish(status))


def packages() -> dict[str, str]:
    """The installed version of each of :data:`PACKAGES` (those installed)."""
    found = {}
    for name in PACKAGES:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = _version(distribution)
    return found


def _version(distribution: importlib.metadata.Distribution) -> str:
    """``distribution.version``, read from the metadata's header lines only.

    ``Distribution.version`` parses the whole metadata file with the ``email`` package, long
    description included: 5.2-6.7 ms of CPU at every run's start for these seven packages, 1.3-2.8
    ms read this way (process time, three rounds, a busy machine; issue 25). The ``Version`` field
    is a header line (core metadata spec), before the first blank line; anything unexpected
    falls back to the full parse.
    """
    text = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO")
    for line in (text or "").splitlines():
        if not line:
            break
        name, _, value = line.partition(":")
        if name.lower() == "version":
            return value.strip()
    return distribution.version

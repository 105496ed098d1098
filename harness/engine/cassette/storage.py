"""Where the cassette store reads and writes recording files.

A run on one machine reads and writes them under the cassette folder (:class:`LocalFiles`).
A unit executed on another machine has no such folder: the driver reads the unit's
recordings and ships their text with the unit (:class:`ShippedFiles`); what the unit records
is kept in memory and travels back with its row, and the driver writes it with
:class:`LocalFiles`. Either way the store sees one interface, so replay and record behave the
same wherever a unit runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.core.atomic import write_text_atomic
from harness.core.context import RequestContext

__all__ = ["RecordingFiles", "LocalFiles", "ShippedFiles", "UnitKey", "unit_key"]

#: The unit a recording belongs to: (suite, variant, task id, epoch), whatever its channel.
UnitKey = tuple[str, str, str, int]


def unit_key(request: RequestContext) -> UnitKey:
    return (request.suite, request.variant, request.task_id, request.epoch)


class RecordingFiles:
    """The interface: read a recording's text, write one whole (never half)."""

    def read(self, path: Path) -> str | None:
        """The text of the recording at ``path``; None when there is none. An empty file is returned
        as it is (``""``): it is a damaged recording, not a missing one."""
        raise NotImplementedError

    def read_raw(self, path: Path) -> bytes | str | None:
        """The recording at ``path`` as stored, for a parser that reads bytes (:meth:`read` by default);
        None when there is none."""
        return self.read(path)

    def write(self, path: Path, text: str, request: RequestContext) -> None:
        """Store the recording of ``request`` at ``path``, atomically."""
        raise NotImplementedError


class LocalFiles(RecordingFiles):
    """Files on this machine; a write goes to a temporary file renamed into place."""

    def read(self, path: Path) -> str | None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        return text

    def read_raw(self, path: Path) -> bytes | None:
        """The file's bytes: a replay's parser reads them as they are (decoding the 18 KB text first
        was 42 k of its 66 k instructions to read a bench/replay_overhead.py recording; callgrind)."""
        try:
            with open(path, "rb") as handle:  # not Path(path).read_bytes(): a Path made of a Path is parsed again
                return handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, path: Path, text: str, request: RequestContext | None = None) -> None:
        write_text_atomic(Path(path), text)


class ShippedFiles(RecordingFiles):
    """Recordings that came with the units (by path), and the ones they wrote, held per unit.

    Paths are compared as strings, as the driver named them: the worker uses the same
    cassette folder setting, so a recording's path (which rows report) is the same text on
    both sides, and a unit that has no recording misses with the same message as locally.
    """

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._written: dict[UnitKey, list[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def add(self, texts: Mapping[str, str]) -> None:
        with self._lock:
            self._texts.update(texts)

    def discard(self, paths: Iterable[str]) -> None:
        with self._lock:
            for path in paths:
                self._texts.pop(path, None)

    def read(self, path: Path) -> str | None:
        return self._texts.get(str(path))

    def write(self, path: Path, text: str, request: RequestContext) -> None:
        with self._lock:
            self._written.setdefault(unit_key(request), []).append((str(path), text))

    def take_written(self, key: UnitKey) -> list[tuple[str, str]]:
        """What the unit ``key`` recorded (flow and judges), handed over once."""
        with self._lock:
            return self._written.pop(key, [])

"""Per-task cassettes on top of one run-wide vcrpy cassette, with an index keyed by request key.

vcrpy patches transports globally, so a run has one active cassette however many tasks run
concurrently: :class:`~harness.engine.cassette.indexed.IndexedCassette`, which matches each
request (:mod:`harness.engine.cassette.indexed`). It holds no file of its own: the
:class:`CassetteStore` loads each task's file (``cassettes/<suite>/<variant>/<task>[.e<n>].json``,
vcrpy's own JSON format) when the task starts and writes it, atomically, when the task ends —
so a recording is on disk before the task's result row, and kill -9 loses only tasks in flight.
The store keeps the loaded recordings indexed by request key, for the cassette's lookups.
"""

from __future__ import annotations

import copy
import logging
import shlex
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vcr.persisters.filesystem import CassetteDecodeError
from vcr.record_mode import RecordMode as VcrRecordMode
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import jsonserializer

from harness.core.clock import utc_now
from harness.core.context import RequestContext
from harness.core.lifeline import parent_alive
from harness.engine import speedups
from harness.engine.cassette import streaming, vcr_request
from harness.engine.cassette.files import (
    CASSETTE_FORMAT,
    cassette_path,
    inspect_recording,
    parse_cassette,
    parse_checked,
    read_cassette,
    recording_format,
    write_cassette_file,
)
from harness.engine.cassette.guard import block_network
from harness.engine.cassette.indexed import (
    KEY_HEADER,
    LEGACY_KEY_HEADER,
    VOLATILE_FIELDS,
    IndexedCassette,
    RecordingStore,
    comparable_body,
    is_transient,
    key_of,
)
from harness.engine.cassette.integrity import RecordingCheck, malformed_replies
from harness.engine.cassette.miss import AbandonedCall, CassetteMiss, DamagedRecording, body_diff
from harness.engine.cassette.record_mode import RecordMode
from harness.engine.cassette.replay_parse import KEY_ONLY
from harness.engine.cassette.scrub import Scrubber
from harness.engine.cassette.storage import LocalFiles, RecordingFiles

__all__ = ["RecordMode", "CassetteStore", "IndexedCassette", "CassetteMiss", "cassette_path", "read_cassette",
           "parse_cassette", "CASSETTE_FORMAT", "recording_format", "write_cassette_file", "KEY_HEADER",
           "LEGACY_KEY_HEADER", "VOLATILE_FIELDS", "comparable_body"]

log = logging.getLogger(__name__)

#: How long a replayed call the recording abandoned waits (beyond the recorded task latency)
#: before it is reported as a miss.
ABANDONED_GRACE_S = 10.0


def _unit_prefix(key: str) -> str:
    return key.rsplit("|b", 1)[0]


def _branch_of(key: str) -> str:
    """``…|b0/1|c3`` -> ``…|b0/1``: the calls of one branch share it."""
    return key.rsplit("|c", 1)[0]


def _forks(keys: Iterable[str]) -> dict[str, set[int]]:
    """Numbered branches under each branch path, from recorded (format-2) keys."""
    found: dict[str, set[int]] = {}
    for key in keys:
        parts = _branch_of(key).rsplit("|b", 1)[-1].split("/")
        for depth in range(1, len(parts)):
            if parts[depth].isdigit():
                found.setdefault("/".join(parts[:depth]), set()).add(int(parts[depth]))
    return found


@dataclass
class _Unit:
    request: RequestContext
    path: Path
    mode: Literal["replay", "record"]
    meta: dict[str, Any]
    missing: bool = False
    #: The harness metadata of the recording being replayed (timings, hashes, outcome).
    recorded_meta: dict[str, Any] = field(default_factory=dict)
    loaded: list[tuple[Request, dict[str, Any]]] = field(default_factory=list)
    recorded: list[tuple[Request, dict[str, Any]]] = field(default_factory=list)
    #: A format-1 recording: replayed by its legacy keys (and rewritten when migrating).
    legacy: bool = False
    #: Numbered branches under each branch path of the recording, for the fork chooser.
    forks: dict[str, set[int]] = field(default_factory=dict)
    #: Recorded request id -> the (format-2) key of the live request it answered.
    played: dict[int, str] = field(default_factory=dict)
    misses: int = 0
    #: The integrity check of a recording that cannot be replayed (damaged, or a newer harness's).
    damage: RecordingCheck | None = None
    #: Recording: the last transient failure per key, stored only if no retry succeeded.
    held: dict[str, tuple[Request, dict[str, Any]]] = field(default_factory=dict)
    #: Replay: the transient failure served per key, served again to the client's retries.
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)



class CassetteStore:
    """Decides per task whether to replay or record, and owns the files."""

    def __init__(self, root: Path, mode: RecordMode | str = RecordMode.NONE,
                 scrubber: Scrubber | None = None, migrate: bool = False,
                 files: RecordingFiles | None = None) -> None:
        self.root = Path(root)
        #: Where recordings are read and written: this machine's files, or ones shipped with units.
        self.files = files or LocalFiles()
        self.mode = RecordMode(mode)
        self.scrubber = scrubber or Scrubber()
        #: Rewrite each format-1 recording replayed whole and without a miss to format 2.
        self.migrate = migrate
        #: The suite file, for the commands miss hints give (set by the runner).
        self.suite_file: str | None = None
        #: A worker process: cassettes go to the parent (see :meth:`take_pending`), not to disk.
        self.defer_writes = False
        self._pending: list[tuple[str, str]] = []
        #: What migration did, per cassette path: "migrated" or why not.
        self.migrations: dict[Path, str] = {}
        self._units: dict[str, _Unit] = {}
        self._index: dict[str, list[tuple[Request, dict[str, Any]]]] = {}
        #: branch (``…|b<path>``) -> its recorded keys in call order, for the in-branch fallback.
        self._branches: dict[str, list[str]] = {}
        #: id(recorded request) -> (the request, its comparable body); the request is kept so
        #: its id cannot be reused while the entry lives. Entries go when the unit ends.
        self._parsed: dict[int, tuple[Request, Any]] = {}
        self._lock = threading.RLock()

    @property
    def _request_headers(self) -> frozenset[str] | None:
        """The recorded requests' headers a replay loads: the key alone (key_of), all to migrate them."""
        return None if self.migrate else KEY_ONLY

    # -- activation -------------------------------------------------------------------------
    @contextmanager
    def activate(self) -> Iterator[IndexedCassette | None]:
        """Patch HTTP libraries for the run (and block the socket layer in ``none`` mode)."""
        if self.mode is RecordMode.OFF:
            yield None
            return
        streaming.install()
        vcr_request.install()
        store: RecordingStore = self  # what the cassette asks of it (checked here by mypy)
        with ExitStack() as stack:
            if self.mode is RecordMode.NONE:
                stack.enter_context(block_network())
            cassette = stack.enter_context(IndexedCassette.use(
                path=str(self.root / ".run"), store=store, serializer=jsonserializer,
                record_mode=VcrRecordMode.NONE if self.mode is RecordMode.NONE else VcrRecordMode.NEW_EPISODES,
            ))
            yield cassette

    def prefetch(self, requests: Iterable[RequestContext]) -> int:
        """Ask the OS to read these units' recordings ahead; returns how many it asked for.

        A start-up speed-up (``prefetch`` in :mod:`harness.engine.speedups`, which says what it
        buys). Run it in a thread: it only makes syscalls. Nothing is asked when nothing is
        replayed.
        """
        if self.mode in (RecordMode.OFF, RecordMode.REWRITE):
            return 0
        return speedups.read_ahead(cassette_path(self.root, request) for request in requests)

    # -- units --------------------------------------------------------------------------------
    def begin(self, request: RequestContext, meta: dict[str, Any] | None = None) -> _Unit | None:
        """Open a task's unit: load its recording to replay it, or start a new recording.

        The recording is checked once (:mod:`~harness.engine.cassette.integrity`): ``none``
        replays it only if it is intact (a damaged one fails the unit, naming the file and the
        fix); ``once`` replays it only if it is reusable and records anything else again —
        except a newer harness's recording, which it refuses rather than overwrite.
        """
        if self.mode is RecordMode.OFF:
            return None
        path = cassette_path(self.root, request)
        unit = _Unit(request=request, path=path, mode="record", meta=dict(meta or {}))
        anew = bool(unit.meta.pop("record_anew", False))  # a customer whose agent records: never an old half
        if self.mode in (RecordMode.NONE, RecordMode.ONCE):
            check = inspect_recording(path, self.files, self._request_headers)
            if self.mode is RecordMode.NONE or check.newer or (not anew and check.reusable(unit.meta.get("identity"))):
                unit.mode = "replay"
                self._load(unit, check)
            elif check.damage is not None:
                log.info("cassette %s is damaged (%s): recording it again", path, check.damage.reason)
        with self._lock:
            self._units[request.prefix] = unit
        return unit

    def _load(self, unit: _Unit, check: RecordingCheck) -> None:
        if not check.exists:
            unit.missing = True
            return
        if check.damage is None:
            try:
                requests, responses, unit.recorded_meta = parse_checked(check, self._request_headers)
                unit.loaded = list(zip(requests, responses, strict=True))
            except (CassetteDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
                check = check.with_damage("unreadable", f"unreadable: vcrpy cannot read it "
                                                        f"({type(exc).__name__}: {str(exc)[:300]})")
        if check.damage is not None:
            # One bad file fails its own unit (each call misses with this reason), never the run. Its
            # row says so, and the run's summary shows it: logged for -v only, not shown twice.
            unit.missing, unit.damage, unit.loaded = True, check, []
            log.info("cassette %s is damaged (%s): its unit fails, the run goes on", unit.path, check.damage.reason)
            return
        unit.legacy = recording_format(unit.recorded_meta) < 2
        keyed = [(key, stored, response) for stored, response in unit.loaded if (key := key_of(stored)) is not None]
        keys = [key for key, _, _ in keyed]
        if not unit.legacy:
            unit.forks = _forks(keys)
        with self._lock:
            for key, stored, response in keyed:
                self._index.setdefault(key, []).append((stored, response))
            for key in dict.fromkeys(keys):
                self._branches.setdefault(_branch_of(key), []).append(key)

    def end(self, request: RequestContext, ok: bool, outcome: str = "ok",
            timing: dict[str, Any] | None = None) -> Path | None:
        """Close a unit; a recording to keep is written atomically and its path returned.

        ``timing`` (the task's and each call's latency) is stored with the recording, so a
        replay can report the latencies the model really had rather than replay speed.
        """
        with self._lock:
            unit = self._units.pop(request.prefix, None)
            if unit is None:
                return None
            for stored, _ in unit.loaded:
                key = key_of(stored) or ""
                self._index.pop(key, None)
                self._branches.pop(_branch_of(key), None)
                self._parsed.pop(id(stored), None)
        if unit.mode == "replay" and unit.legacy and self.migrate and not unit.missing:
            self._migrate(unit)
        if unit.mode == "record" and ok:
            unit.recorded.extend(unit.held.values())
            unit.meta["outcome"] = outcome
            if timing:
                unit.meta["timing"] = timing
            self._write(unit)
            return unit.path
        return unit.path if unit.mode == "replay" and not unit.missing else None

    def write_recording(self, request: RequestContext, interactions: Iterable[tuple[Request, dict[str, Any]]],
                        meta: dict[str, Any]) -> Path:
        """Write a whole recording made elsewhere (a captured production trace, ``harness traces
        import``) exactly as this store writes the ones it records: scrubbed, format, metadata."""
        unit = _Unit(request=request, path=cassette_path(self.root, request), mode="record", meta=dict(meta))
        unit.recorded = [(self.scrub(stored), self.scrubber.response(copy.deepcopy(response)))
                         for stored, response in interactions]
        self._write(unit)
        return unit.path

    def _write(self, unit: _Unit) -> None:
        meta = unit.meta | {
            "format": CASSETTE_FORMAT,
            "suite": unit.request.suite,
            "variant": unit.request.variant,
            "task_id": unit.request.task_id,
            "epoch": unit.request.epoch,
            "channel": unit.request.channel,
            "recorded_at": utc_now(),
            "interactions": len(unit.recorded),
            "complete": True,
        }
        broken = malformed_replies([response for _, response in unit.recorded])
        if broken:  # a server's broken reply, kept as sent: the integrity check must not call it damage
            meta["malformed_replies"] = broken
        self._dump(unit, unit.path, [r for r, _ in unit.recorded], [r for _, r in unit.recorded], meta)

    def _dump(self, unit: _Unit, path: Path, requests: list[Request], responses: list[dict[str, Any]],
              meta: dict[str, Any]) -> None:
        """Write a cassette atomically, in vcrpy's JSON format, scrubbed once more as text.

        With ``defer_writes`` (a worker process) the file is handed to the parent instead, which
        writes it just before the unit's row: a worker never leaves a recording whose row the
        parent cannot write (the parent being killed in between is the one-process case).
        """
        if not parent_alive():  # a worker whose parent died: the unit's row can never be written
            log.warning("not writing %s: the process that runs this run is gone", path)
            return
        data = serialize({"requests": requests, "responses": responses, "metadata": {"harness": meta}},
                         jsonserializer)
        text = self.scrubber.text(data)
        if self.defer_writes:
            with self._lock:
                self._pending.append((str(path), text))
            return
        self.files.write(path, text, unit.request)

    def take_pending(self) -> list[tuple[str, str]]:
        """The cassettes deferred so far (path, text), for the parent to write; clears them."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def _migrate(self, unit: _Unit) -> None:
        """Rewrite a format-1 recording under the keys its replay was just asked for.

        Only a replay that used every recorded interaction once and missed nothing tells each
        recorded call its new key; anything else is left as it was, and said why.
        """
        if unit.misses or len(unit.played) != len(unit.loaded):
            unused = len(unit.loaded) - len(unit.played)
            self.migrations[unit.path] = (f"not migrated: the replay missed {unit.misses} call(s) and left "
                                          f"{unused} recorded call(s) unused; record it again with "
                                          f"--record-mode rewrite --ids {unit.request.task_id}")
            return
        renamed: dict[str, str] = {}
        requests = []
        for stored, _ in unit.loaded:
            new_key = unit.played[id(stored)]
            renamed[key_of(stored) or ""] = new_key
            headers = dict(stored.headers) | {KEY_HEADER: new_key}
            requests.append(Request(stored.method, stored.uri, stored.body, headers))
        meta = dict(unit.recorded_meta)
        timing = dict(meta.get("timing") or {})
        if "calls" in timing:
            timing["calls"] = {renamed.get(k, k): v for k, v in (timing["calls"] or {}).items()}
        timing.pop("spans", None)  # keyed by span ids of the old paths: replay falls back to replay times
        if timing:
            meta["timing"] = timing
        meta |= {"format": CASSETTE_FORMAT, "migrated_from_format": recording_format(unit.recorded_meta),
                 "migrated_at": utc_now()}
        self._dump(unit, unit.path, requests, [response for _, response in unit.loaded], meta)
        self.migrations[unit.path] = "migrated"

    # -- used by IndexedCassette ---------------------------------------------------------------
    def replaying(self, request: RequestContext) -> bool:  # the open unit replays (False: records, or not open)
        return (unit := self._units.get(request.prefix)) is not None and unit.mode == "replay" and not unit.missing

    def unit_for(self, key: str | None) -> _Unit | None:
        return None if key is None else self._units.get(_unit_prefix(key))

    def lookup_key(self, request: Request, key: str | None = None, unit: _Unit | None = None) -> str | None:
        """The key to look a request up by: its own, or the legacy one for a format-1 recording
        (``key`` and ``unit``: the request's key and unit, when the caller has them already)."""
        if key is None:
            key = key_of(request)
            unit = self.unit_for(key)
        if unit is not None and unit.legacy:
            return request.headers.get(LEGACY_KEY_HEADER) or key
        return key

    def lookup_order(self, key: str) -> Iterator[str]:
        """The key itself, then the other recorded keys of its branch (found only if asked for: the key
        itself nearly always answers)."""
        yield key
        for sibling in self._branches.get(_branch_of(key)) or ():
            if sibling != key:
                yield sibling

    def fork_chooser(self, unit: _Unit | None) -> Any:
        """For a replayed unit: the recorded number of a new branch, found by its first request."""
        if unit is None or unit.mode != "replay" or unit.legacy or not unit.forks:
            return None
        prefix = unit.request.prefix

        def choose(base: str, taken: frozenset[int], body: bytes | None) -> int | None:
            free = sorted(unit.forks.get(base, set()) - taken)
            if not free or body is None:
                return None
            sent = comparable_body(self.scrubber.body(body))
            for number in free:
                for stored, _ in self.candidates(f"{prefix}|b{base}/{number}|c1"):
                    if self.stored_body(stored) == sent:
                        return number
            return None

        return choose

    def stored_body(self, stored: Request) -> Any:
        """A recorded request's comparable body, parsed once (replay compares every call)."""
        cached = self._parsed.get(id(stored))
        if cached is None:
            cached = self._parsed[id(stored)] = (stored, comparable_body(stored.body))
        return cached[1]

    def candidates(self, key: str) -> list[tuple[Request, dict[str, Any]]]:
        with self._lock:
            return list(self._index.get(key, ()))

    def consume(self, key: str, stored: Request, live: Request, response: dict[str, Any] | None = None) -> bool:
        """Use up the recorded answer ``stored`` (under ``key``) for the live request ``live``;
        False when it is no longer there (a call on another thread used it first)."""
        with self._lock:
            entries = self._index.get(key) or []
            at = next((n for n, (candidate, _) in enumerate(entries) if candidate is stored), None)
            if at is None:
                return False
            del entries[at]
            unit = self.unit_for(key)
            if unit is None:
                return True
            if self.migrate:
                unit.played[id(stored)] = key_of(live) or ""
            if response is not None and is_transient(response):
                unit.failures[key] = response
            return True

    def failure_for(self, key: str) -> dict[str, Any] | None:
        return unit.failures.get(key) if (unit := self.unit_for(key)) is not None else None

    def add_recording(self, unit: _Unit, request: Request, response: dict[str, Any]) -> None:
        """Keep an exchange. A transient failure (429/5xx) is held back: the client retries it under
        the same key, and only a failure no retry overcame is stored (so replay fails the same way)."""
        key = key_of(request) or ""
        with self._lock:
            if is_transient(response):
                unit.held[key] = (request, response)
                return
            unit.held.pop(key, None)
            unit.recorded.append((request, response))

    def scrub(self, request: Request) -> Request:
        headers = {k: v for k, v in dict(request.headers).items() if k.lower() != LEGACY_KEY_HEADER}
        clone = Request(request.method, request.uri, request.body, headers)
        return self.scrubber.request(clone)

    def miss(self, unit: _Unit, request: Request, key: str) -> CassetteMiss:
        """Explain a miss: no file, a call the recording lacks, or a changed request (with a diff)."""
        key = self.lookup_key(request) or key
        found = self._explain(unit, request, key)
        if not isinstance(found, AbandonedCall):  # the recording never had those replies either
            unit.misses += 1
        return found

    def _explain(self, unit: _Unit, request: Request | None, key: str) -> CassetteMiss:
        if unit.damage is not None and unit.damage.damage is not None:
            return DamagedRecording(key, unit.path, unit.damage.damage, self._command(unit, RecordMode.ONCE))
        if unit.missing:
            return CassetteMiss(key, f"no recording at {unit.path}", hint=self._hint(unit, RecordMode.ONCE))
        sent = comparable_body(self.scrub(request).body)
        same_key = [stored for stored, _ in unit.loaded if key_of(stored) == key]
        identity = unit.meta.get("identity")
        if same_key and identity is not None and unit.recorded_meta.get("identity") != identity:
            # A judge whose rubric, labels or model changed: ``once`` records it anew.
            return CassetteMiss(key, f"the judge changed since {unit.path} was recorded (its rubric, labels, "
                                "model or what it is shown)", diff=body_diff(comparable_body(same_key[0].body), sent),
                                hint=self._hint(unit, RecordMode.ONCE))
        if same_key:
            return CassetteMiss(key, f"the request differs from the one recorded in {unit.path}",
                                diff=body_diff(comparable_body(same_key[0].body), sent),
                                hint=self._hint(unit, RecordMode.REWRITE))
        branch = key.rsplit("|c", 1)[0]
        in_branch = [stored for stored, _ in unit.loaded if (key_of(stored) or "").startswith(branch + "|")]
        calls = ", ".join((key_of(s) or "").rsplit("|", 1)[-1] for s in in_branch) or "none"
        reason = (f"the recording at {unit.path} has no such call (this branch recorded: {calls}); "
                  "the flow now makes more or different calls than when it was recorded")
        diff = body_diff(comparable_body(in_branch[-1].body), sent) if in_branch else []
        if unit.recorded_meta.get("outcome") == "error" and not in_branch:
            wait = float((unit.recorded_meta.get("timing") or {}).get("latency_s") or 0) + ABANDONED_GRACE_S
            return AbandonedCall(key, reason, wait_s=wait, diff=diff, hint=self._hint(unit, RecordMode.REWRITE))
        return CassetteMiss(key, reason, diff=diff, hint=self._hint(unit, RecordMode.REWRITE))

    def unreadable(self, unit: _Unit | None) -> CassetteMiss | None:
        """The error of a unit whose recording is damaged (so it fails even if it calls nothing)."""
        if unit is None or unit.damage is None:
            return None
        return self._explain(unit, None, f"{unit.request.prefix}|b0|c1")

    def _command(self, unit: _Unit, mode: RecordMode) -> str:
        return record_command(self.suite_file, unit.request, mode)

    def _hint(self, unit: _Unit, mode: RecordMode) -> str:
        """A command that fixes this miss: ``once`` records what is missing; a recording that
        exists but no longer fits (a changed request, more calls) needs ``rewrite`` — ``once``
        would replay the stale recording and miss again."""
        command = self._command(unit, mode)
        if mode is RecordMode.ONCE:
            return f"To record it: {command}"
        return f"The recording is stale; to record it again: {command}"


def record_command(suite_file: str | None, request: RequestContext, mode: RecordMode) -> str:
    """The ``harness run`` command that records one unit in ``mode``."""
    return (f"harness run {shlex.quote(suite_file) if suite_file else '<suite file>'} --record-mode {mode.value} "
            f"--ids {shlex.quote(request.task_id)} --variant {shlex.quote(request.variant)}")

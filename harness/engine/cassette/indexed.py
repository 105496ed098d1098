"""The run-wide vcrpy cassette, and how a live request finds its recorded answer.

vcrpy patches transports globally, so a run has one active cassette however many tasks run
concurrently: :class:`IndexedCassette`. vcrpy asks it, for each request, whether it can play an
answer (``can_play_response_for``), then for that answer (``play_response``), or hands it a live
exchange to record (``append``); the :class:`~harness.engine.cassette.store.CassetteStore` behind
it holds the per-task recordings, indexed by request key.

Matching is by the ``x-harness-key`` header (suite, variant, task, epoch, branch, call number)
and then by the JSON body, compared as data (key order and whitespace do not matter). A dict
lookup replaces vcrpy's scan over every stored interaction, which made replay quadratic.

This subclasses private parts of vcrpy 9.4.2 (``Cassette._responses``, ``play_response``,
``can_play_response_for``, ``append``, ``_load``, ``_save``); the version is pinned and
``tests/engine/cassette/test_vcrpy_contract.py`` fails if an upgrade changes them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, Protocol, cast

from vcr.cassette import Cassette
from vcr.request import Request

from harness.core.context import current_request
from harness.engine.cassette.miss import CassetteMiss, json_body
from harness.engine.cassette.record_mode import RecordMode
from harness.engine.cassette.scrub import Scrubber
from harness.engine.routing import call_site

__all__ = ["IndexedCassette", "KEY_HEADER", "LEGACY_KEY_HEADER", "VOLATILE_FIELDS", "comparable_body", "key_of",
           "is_transient"]

KEY_HEADER = "x-harness-key"
#: Sent with a request while a format-1 recording is replayed: the key that recording used.
LEGACY_KEY_HEADER = "x-harness-legacy-key"

#: Request fields that say how the provider should treat a call, not what the model is asked.
#: The Agents SDK sends a random ``prompt_cache_key`` per run and ``store`` only when the base
#: URL is api.openai.com: comparing them would make every OpenAI recording miss on replay.
VOLATILE_FIELDS = frozenset({"prompt_cache_key", "store"})

_UNPARSED = object()
_RETRY_HEADER = "x-stainless-retry-count"

#: A recorded answer found for a request: (the key it is stored under, the recorded request, the
#: recorded response). The recorded request is None for a failure served again to a retry.
Match = tuple[str, Request | None, dict[str, Any]]


def comparable_body(raw: Any) -> Any:
    """A request body as replay compares it: parsed JSON without the volatile fields."""
    body = json_body(raw)
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in VOLATILE_FIELDS}
    return body


def is_transient(response: dict[str, Any]) -> bool:
    """A failure the openai client retries (429, 5xx)."""
    status = int((response.get("status") or {}).get("code") or 0)
    return status == 429 or status >= 500


def key_of(request: Request) -> str | None:
    # vcrpy is untyped (its Request is Any here); its headers map names to str values.
    return cast(str | None, request.headers.get(KEY_HEADER))


class RecordingStore(Protocol):
    """What the cassette asks of the store that holds the recordings
    (:class:`harness.engine.cassette.store.CassetteStore`; units are its per-task records)."""

    mode: RecordMode
    scrubber: Scrubber

    def unit_for(self, key: str | None) -> Any: ...
    def lookup_key(self, request: Request, key: str | None = None, unit: Any = None) -> str | None: ...
    def lookup_order(self, key: str) -> Iterator[str]: ...
    def candidates(self, key: str) -> list[tuple[Request, dict[str, Any]]]: ...
    def stored_body(self, stored: Request) -> Any: ...
    def failure_for(self, key: str) -> dict[str, Any] | None: ...
    def consume(self, key: str, stored: Request, live: Request, response: dict[str, Any] | None = None) -> bool: ...
    def miss(self, unit: Any, request: Request, key: str) -> CassetteMiss: ...
    def scrub(self, request: Request) -> Request: ...
    def add_recording(self, unit: Any, request: Request, response: dict[str, Any]) -> None: ...


class _Sent:
    """A live request's (scrubbed) body as replay compares it with recorded ones.

    The same bytes are the same data, so a recorded body equal byte for byte matches without
    parsing either; only bodies that differ as bytes (a volatile field, another key order) are
    parsed and compared as data. Parsing the live body was 2 of the 5 JSON parses per replayed
    call (cProfile of bench/replay_overhead.py; the recorded body's parse is kept per recording).
    """

    __slots__ = ("raw", "_parsed")

    def __init__(self, raw: Any) -> None:
        self.raw, self._parsed = raw, _UNPARSED

    def matches(self, stored: Request, store: RecordingStore) -> bool:
        if stored.body == self.raw:
            return True
        if self._parsed is _UNPARSED:
            self._parsed = comparable_body(self.raw)
        return bool(store.stored_body(stored) == self._parsed)


class IndexedCassette(Cassette):
    """The run-wide vcrpy cassette: lookups by request key, recording into per-task units."""

    def __init__(self, *args: Any, store: RecordingStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = store
        #: id(live request) -> (that request, the answer can_play_response_for found for it): see
        #: play_response. The request is kept beside its id so that an id reused by a later object
        #: can never hand that object another request's answer.
        self._found: dict[int, tuple[Request, Match]] = {}

    # vcrpy's file handling is replaced by the store's per-task files.
    def _load(self) -> None:
        return None

    def _save(self, force: bool = False) -> None:
        return None

    @property
    def write_protected(self) -> bool:
        return self.store.mode is RecordMode.NONE

    def _responses(self, request: Request, key: str | None) -> Iterator[Match]:
        """Recorded answers for a request looked up by ``key`` (:meth:`RecordingStore.lookup_key`): under
        that key, else (calls of one branch racing each other, say a task and a child it did not wait
        for) under another key of its branch."""
        if key is None:
            return
        sent = None
        for candidate_key in self.store.lookup_order(key):
            for stored, response in self.store.candidates(candidate_key):
                if stored.method != request.method:
                    continue
                if sent is None:
                    sent = _Sent(self.store.scrubber.body(request.body))
                if sent.matches(stored, self.store):
                    yield candidate_key, stored, response
        failure = self.store.failure_for(key) if request.headers.get(_RETRY_HEADER, "0") not in ("0", "") else None
        if failure is not None:  # a retry of a call whose recording ended in a failure: it fails again
            yield key, None, failure

    def can_play_response_for(self, request: Request) -> bool:
        key = key_of(request)
        unit = self.store.unit_for(key)
        if unit is None:
            # Recording a call the harness did not key would make a recording that cannot
            # replay (or an empty "ok" one): inside a task, that is an error in every mode.
            if self.store.mode is RecordMode.NONE or (key is None and current_request() is not None):
                raise _unkeyed_miss(request, key, self.store.mode)
            return False
        if unit.mode != "replay":
            return False
        found = next(self._responses(request, self.store.lookup_key(request, key, unit)), None)
        if found is None:
            raise self.store.miss(unit, request, key or "")
        self._found[id(request)] = (request, found)  # popped by play_response, which vcrpy calls next with it
        return True

    def play_response(self, request: Request) -> dict[str, Any]:
        # The answer can_play_response_for found, taken unless a call on another thread took it in
        # between: looking it up again was 0.2 of the 0.8 s the cassette's matching cost in a
        # cProfile of bench/replay_overhead.py (2,000 calls).
        asked, found = self._found.pop(id(request), (None, None))
        if asked is request and found is not None and self._take(request, found):
            return found[2]
        key = self.store.lookup_key(request)
        for match in self._responses(request, key):
            if self._take(request, match):
                return match[2]
        unit = self.store.unit_for(key or "")
        raise self.store.miss(unit, request, key or "") if unit else CassetteMiss(key or "", "no recording")

    def _take(self, request: Request, match: Match) -> bool:
        """Use a recorded answer up (False: another call used it first); a failure is served again."""
        key, stored, response = match
        return stored is None or self.store.consume(key, stored, request, response)

    def append(self, request: Request, response: dict[str, Any]) -> None:
        unit = self.store.unit_for(key_of(request))
        if unit is None or unit.mode != "record":
            return
        scrubbed = self.store.scrubber.response(copy.deepcopy(response))
        self.store.add_recording(unit, self.store.scrub(request), scrubbed)

    def find_requests_with_most_matches(self, request: Request) -> list[Any]:
        # vcrpy would compare the request with every stored one; misses are explained by the store.
        return []


def _unkeyed_miss(request: Request, key: str | None, mode: RecordMode) -> CassetteMiss:
    """A request the harness did not key: made outside a task, or not by an ``openai`` client."""
    task = current_request()
    if task is None:
        return CassetteMiss(key or "?|?|?|?|?", f"request to {request.uri} was made outside any task, "
                            "and record mode 'none' forbids it")
    where = f"{request.method} {request.host}{request.path}"
    return CassetteMiss(f"{task.prefix}|b?|c?", f"{where}, called from {call_site()}, did not go through the "
                        "harness's openai clients (inside a task every openai client is one, wherever it was "
                        f"built; this call was made some other way), so it cannot be recorded or replayed; record "
                        f"mode '{mode.value}' refuses it.")

"""The request context: who is asking, carried by ``contextvars`` to every model call.

The runner opens a :class:`RequestContext` for each (suite, variant, task, epoch). Everything
below it — the flow, the OpenAI Agents SDK, parallel branches made with ``asyncio.gather`` or
``asyncio.create_task``, sync code run with ``asyncio.to_thread`` — sees the same context, so
the cassette layer can key each request and the tracer can attribute each span without the flow
passing anything along.

Branches. vcrpy replays the first unplayed matching interaction, so three parallel branches
that send the same first prompt would steal each other's answers: each call's key says which
*branch* of the task made it, and its position within that branch. Keys are stored for years,
so they are built only from the task's own structure, never from names inside a library
(an Agents SDK patch release that renames or wraps one of its coroutines must not make a single
recording miss):

* every asyncio task (and every :func:`branch` / :func:`branch_scope` block) is a *strand*;
* a strand that ran alone — created when none of its siblings was running, and joined by none
  before it did anything — is a sequential step of its parent and continues the parent's branch
  and call count. Libraries that run a model call in a task of their own, or wrap one in another
  task, therefore change nothing;
* a strand that ran concurrently with a sibling (``gather``, a ``TaskGroup``, a guardrail beside
  a model call) is a branch of its own, numbered ``1, 2, …`` under the nearest branch above it
  *in the order the branches first do something the harness records* (a model call or a span);
* a block under ``ctx.branch("draft")`` is the branch ``draft`` of the branch above it (a label
  used again gets ``draft#2``, ``draft#3`` in first-use order): stable names for flows whose
  parallel branches start in an order that varies.

A branch path is ``0`` (the task), ``0/2``, ``0/draft``, ``0/draft/1``…; a request key is
``suite|channel|variant|task|e<epoch>|b<path>|c<call>``. Replay stays exact when concurrent
branches first call the model in another order than when recorded: a cassette unit being replayed
installs a *fork chooser* (:func:`request_scope`'s ``fork_chooser``) that gives a new numbered
branch the recorded number whose first request is the one it sends.

Recordings made before this scheme (cassette format 1) named branches by coroutine name. Every
strand also keeps that *legacy* path, so format-1 recordings still replay and
``harness cassettes migrate`` can rewrite them to the new keys without calling a model.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RequestContext",
    "Branch",
    "RequestKeys",
    "ForkChooser",
    "current_request",
    "current_branch",
    "request_scope",
    "install_branch_factory",
    "branch",
    "branch_scope",
    "transport_scope",
    "in_transport",
    "cancel_abandoned_tasks",
    "next_request_key",
    "next_request_keys",
]

#: ``(base path, numbers already taken under it, request body) -> number`` or ``None`` (next free).
ForkChooser = Callable[[str, frozenset[int], bytes | None], int | None]


@dataclass(frozen=True, init=False)
class RequestContext:
    """Identity of one unit of work, as seen by the cassette layer and the tracer.

    ``channel`` separates the flow's own model calls (``"flow"``) from a judge's calls
    (``"judge/<grader-id>"``), so each lives in its own cassette and re-judging never
    invalidates a flow recording.
    """

    suite: str
    variant: str
    task_id: str
    epoch: int = 1
    channel: str = "flow"

    def __init__(self, suite: str, variant: str, task_id: str, epoch: int = 1, channel: str = "flow") -> None:
        # The generated frozen ``__init__`` sets each field through ``object.__setattr__``; filling
        # the instance's dict at once is the same object, still frozen afterwards (timeit: 0.60 ->
        # 0.37 us; every unit and every captured trace makes one: docs/capture.md's cost, issue 26).
        self.__dict__.update(suite=suite, variant=variant, task_id=task_id, epoch=epoch, channel=channel)

    @property
    def prefix(self) -> str:
        """Stable string naming this unit of work in request keys."""
        return f"{self.suite}|{self.channel}|{self.variant}|{self.task_id}|e{self.epoch}"


class Branch:
    """A resolved branch: its path, the count of its calls, the numbering of its sub-branches."""

    __slots__ = ("path", "_calls", "_taken", "_labels")

    def __init__(self, path: str) -> None:
        self.path = path
        self._calls = itertools.count(1)
        # Made by the first fork: most branches never fork, and every unit makes one (0.8 k instructions
        # of a unit's 23.9 k request scope, callgrind; issue 25).
        self._taken: set[int] | None = None
        self._labels: dict[str, int] | None = None

    def next_call(self) -> int:
        return next(self._calls)

    def fork(self, label: str | None, body: bytes | None, chooser: ForkChooser | None) -> Branch:
        """A new branch under this one: labelled, or the chosen (else the lowest free) number."""
        if label is not None:
            labels = self._labels = {} if self._labels is None else self._labels
            uses = labels[label] = labels.get(label, 0) + 1
            return Branch(f"{self.path}/{label}" + (f"#{uses}" if uses > 1 else ""))
        taken = self._taken = set() if self._taken is None else self._taken
        number = chooser(self.path, frozenset(taken), body) if chooser else None
        if number is None or number in taken:
            number = next(n for n in itertools.count(1) if n not in taken)
        taken.add(number)
        return Branch(f"{self.path}/{number}")


class _Legacy:
    """The format-1 branch path (children numbered per coroutine name), kept to replay and
    migrate recordings made before keys were built from the task's structure."""

    __slots__ = ("path", "_calls", "_children")

    def __init__(self, path: str) -> None:
        self.path = path
        self._calls = itertools.count(1)
        self._children: dict[str, itertools.count[int]] | None = None  # made by the first child

    def next_call(self) -> int:
        return next(self._calls)

    def child(self, name: str) -> _Legacy:
        children = self._children = {} if self._children is None else self._children
        counter = children.setdefault(name, itertools.count(1))
        return _Legacy(f"{self.path}/{name}#{next(counter)}")


class _Strand:
    """Where code runs: an asyncio task, or a ``branch``/``branch_scope`` block. Resolved to a
    :class:`Branch` lazily, the first time it does something the harness records."""

    __slots__ = ("parent", "label", "concurrent", "resolved", "task", "children", "legacy",
                 "last_keys", "lock", "__weakref__")

    def __init__(self, parent: _Strand | None, legacy: _Legacy, *, label: str | None = None,
                 concurrent: bool = False, resolved: Branch | None = None) -> None:
        self.parent = parent
        self.label = label
        self.concurrent = concurrent
        self.resolved = resolved
        self.task: asyncio.Task[Any] | None = None
        self.children: list[_Strand] = []
        self.legacy = legacy
        self.last_keys: RequestKeys | None = None
        self.lock: threading.RLock = parent.lock if parent is not None else threading.RLock()

    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def add_task_child(self, child: _Strand) -> None:
        """Register a new task strand; siblings still running make it (and them) concurrent."""
        with self.lock:
            self.children = [c for c in self.children if c.running()]
            if self.children:
                child.concurrent = True
                for sibling in self.children:
                    sibling.concurrent = True
            self.children.append(child)

    def resolve(self, body: bytes | None = None, chooser: ForkChooser | None = None) -> Branch:
        with self.lock:
            return self._resolve(body, chooser)

    def _resolve(self, body: bytes | None, chooser: ForkChooser | None) -> Branch:
        if self.resolved is not None:
            return self.resolved
        assert self.parent is not None, "the root strand is resolved when it is made"
        if self.label is not None or self.concurrent:
            # Strands above that never did anything recorded are not branches: skipping them
            # keeps paths free of how a library happens to nest its tasks.
            base = self.parent
            while base.resolved is None:
                assert base.parent is not None
                base = base.parent
            self.resolved = base.resolved.fork(self.label, body, chooser)
        else:
            self.resolved = self.parent._resolve(body, chooser)
        return self.resolved


@dataclass(frozen=True)
class RequestKeys:
    """A call's key, and its format-1 (legacy) key."""

    key: str
    legacy: str


class _Scope:
    """One unit's request and its per-task slots."""

    __slots__ = ("request", "extras", "tasks")

    def __init__(self, request: RequestContext, extras: dict[str, Any]) -> None:
        self.request = request
        self.extras = extras
        #: asyncio tasks created inside the scope, so a finished unit can cancel the ones it
        #: abandoned; made by the first task (most units start none, and a WeakSet costs 2 us).
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] | None = None


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("harness_scope", default=None)
_strand: contextvars.ContextVar[_Strand | None] = contextvars.ContextVar("harness_strand", default=None)
#: Set while a request is inside the HTTP transport: tasks an HTTP library makes there are its own.
_in_transport: contextvars.ContextVar[bool] = contextvars.ContextVar("harness_in_transport", default=False)


def current_request() -> RequestContext | None:
    """The request context of the running task, or ``None`` outside the runner."""
    scope = _scope.get()
    return scope.request if scope else None


def current_branch() -> Branch | None:
    """The branch of the running code (resolving it: asking counts as doing something recorded)."""
    strand = _strand.get()
    if strand is None:
        return None
    # A strand is resolved once and stays so: read without its lock or the chooser (every model
    # span asks: 0.33 -> 0.05 us, timeit, thread time; issue 26).
    return strand.resolved or strand.resolve(chooser=_chooser())


def scope_extras() -> dict[str, Any]:
    """Per-task mutable slots shared by the layers (tracer, cassette mode). Empty outside a task."""
    scope = _scope.get()
    return scope.extras if scope else {}


def _chooser() -> ForkChooser | None:
    scope = _scope.get()
    return scope.extras.get("fork_chooser") if scope else None


class request_scope(_Scope):  # lower case: used as a function, ``with request_scope(request): ...``
    """Enter ``request`` for the current task; nested tasks and threads inherit it.

    ``fork_chooser`` (a :data:`ForkChooser`) numbers new branches as a recording did.

    A class, not a ``@contextmanager`` generator (as :class:`transport_scope`): every unit enters
    one, and the generator's machinery was most of its 18 us (timeit, a busy 2-core machine). It
    is its own :class:`_Scope`: one object less per unit, 23.2 k -> 21.2 k instructions a scope
    entered and left (callgrind; issue 25, bench/live_overhead.py).
    """

    __slots__ = ("_scope_token", "_strand_token")

    def __init__(self, request: RequestContext, **extras: Any) -> None:  # _Scope's fields, without its frame
        self.request = request
        self.extras = extras

    def __enter__(self) -> RequestContext:
        self.tasks = None
        self._scope_token = _scope.set(self)
        self._strand_token = _strand.set(_Strand(None, _Legacy("0"), resolved=Branch("0")))
        return self.request

    def __exit__(self, *exc_info: object) -> None:
        _strand.reset(self._strand_token)
        _scope.reset(self._scope_token)


@contextmanager
def _enter(make: Callable[[_Strand], _Strand]) -> Iterator[None]:
    parent = _strand.get()
    if parent is None:
        yield
        return
    token = _strand.set(make(parent))
    try:
        yield
    finally:
        _strand.reset(token)


def branch(label: str) -> Any:
    """Run a block as the branch ``label`` of the branch above it (see the module docstring).

    ``with ctx.branch("critic"): ...`` inside each of several gathered coroutines gives them
    stable names whatever order they start in. A label is one path segment: no ``/``, ``|`` or ``#``.
    """
    if not label or any(c in label for c in "/|#") or label.isdigit():
        raise ValueError(f"a branch label is a non-empty name without '/', '|' or '#' (and not a number), "
                         f"got {label!r}")
    return _enter(lambda parent: _Strand(parent, parent.legacy, label=label))


def branch_scope() -> Any:
    """Run a block as a new numbered branch (for thread pools and hand-made concurrency)."""
    return _enter(lambda parent: _Strand(parent, parent.legacy.child("scope"), concurrent=True))


def in_transport() -> bool:
    """Whether this code runs inside the harness's HTTP transport (see :func:`transport_scope`)."""
    return _in_transport.get()


class transport_scope:  # lower case: used as a function
    """Mark a block as the inside of the HTTP transport (tasks made there are not branches).

    A class rather than a ``@contextmanager`` generator: entered once per model call, where the
    generator cost 2-3 us of the harness's own CPU per call (timeit).
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _in_transport.set(True)

    def __exit__(self, *exc_info: object) -> None:
        _in_transport.reset(self._token)


def cancel_abandoned_tasks() -> int:
    """Cancel tasks the current scope started and left running (say, the siblings of a failed
    branch in ``asyncio.gather``): a finished task must not keep calling the model."""
    scope = _scope.get()
    if scope is None or not scope.tasks:  # most units start no task
        return 0
    current = asyncio.current_task()
    pending = [t for t in list(scope.tasks) if t is not current and not t.done()]
    for task in pending:
        task.cancel()
    return len(pending)


def next_request_keys(retry: bool = False, body: bytes | None = None) -> RequestKeys | None:
    """The keys of the next model call of the current strand, or ``None`` outside a task.

    ``retry`` reuses the previous keys: the openai client's retry of a call is the same call.
    ``body`` (what is sent) lets a replayed branch take the number it had when recorded.
    """
    scope = _scope.get()
    strand = _strand.get()
    if scope is None or strand is None:
        return None
    if retry and strand.last_keys is not None:
        return strand.last_keys
    with strand.lock:  # resolved: read as current_branch reads it (1.50 -> 1.28 us a key, timeit)
        resolved = strand.resolved or strand._resolve(body, scope.extras.get("fork_chooser"))
        prefix = scope.request.prefix
        keys = RequestKeys(f"{prefix}|b{resolved.path}|c{resolved.next_call()}",
                           f"{prefix}|b{strand.legacy.path}|c{strand.legacy.next_call()}")
    strand.last_keys = keys
    return keys


def next_request_key(retry: bool = False, body: bytes | None = None) -> str | None:
    """The key of the next model call of the current strand (see :func:`next_request_keys`)."""
    keys = next_request_keys(retry, body)
    return keys.key if keys else None


def _branch_task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
    context: contextvars.Context | None = kwargs.pop("context", None)
    if context is None:
        context = contextvars.copy_context()
    parent = context.get(_strand)
    child: _Strand | None = None
    if parent is not None:
        # The legacy path numbers children per coroutine name, as format-1 recordings did.
        name = getattr(coro, "__name__", None) or type(coro).__name__
        child = _Strand(parent, parent.legacy.child(name))
        context.run(_strand.set, child)
    task = asyncio.Task(coro, loop=loop, context=context, **kwargs)
    if child is not None and parent is not None:
        child.task = task
        if not context.get(_in_transport):
            parent.add_task_child(child)
    scope = context.get(_scope)
    if scope is not None:
        if scope.tasks is None:
            scope.tasks = weakref.WeakSet()
        scope.tasks.add(task)
    return task


def install_branch_factory(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Give every asyncio task created inside a request context its own strand.

    Idempotent. Tasks created outside any request context are untouched.
    """
    loop = loop or asyncio.get_running_loop()
    if loop.get_task_factory() is not _branch_task_factory:
        loop.set_task_factory(_branch_task_factory)

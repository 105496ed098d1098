"""The request context: who is asking, carried by ``contextvars`` to every model call.

The runner opens a :class:`RequestContext` for each (suite, variant, task, epoch). Everything
below it — the flow, the OpenAI Agents SDK, parallel branches made with ``asyncio.gather`` or
``asyncio.create_task``, sync code run with ``asyncio.to_thread`` — sees the same context, so
the cassette layer can key each request and the tracer can attribute each span without the flow
passing anything along.

Parallel branches. vcrpy replays the first unplayed matching interaction, so three parallel
branches that send the same first prompt would steal each other's answers. Each asyncio task
created inside a request context therefore gets its own *branch path* (``0``,
``0/draft#1``, ``0/draft#2``…), assigned by a loop task factory **when the task is created**.
Creation order is fixed by the code (``gather(a(), b(), c())`` creates a, b, c in that order)
even when completion order is not, so a branch path names the same branch on record and on
replay. Children are numbered *per coroutine name*: HTTP libraries create tasks of their own
while connecting live (and none while replaying), and numbering those separately keeps them
from shifting the numbers of the flow's own branches. Each branch numbers its own model
calls; a request key is ``branch path + call number``.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RequestContext",
    "Branch",
    "current_request",
    "current_branch",
    "request_scope",
    "install_branch_factory",
    "branch_scope",
    "cancel_abandoned_tasks",
]


@dataclass(frozen=True)
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

    @property
    def prefix(self) -> str:
        """Stable string naming this unit of work in request keys."""
        return f"{self.suite}|{self.channel}|{self.variant}|{self.task_id}|e{self.epoch}"


class Branch:
    """One sequential strand of execution inside a request context.

    Calls within a branch are sequential, so a counter orders them. Children are numbered in
    creation order. A retried HTTP call keeps the key of its first attempt.
    """

    __slots__ = ("path", "_calls", "_children", "_lock", "last_key")

    def __init__(self, path: str) -> None:
        self.path = path
        self._calls = itertools.count(1)
        self._children: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()
        self.last_key: str | None = None

    def next_call(self) -> int:
        with self._lock:
            return next(self._calls)

    def child(self, name: str = "branch") -> Branch:
        """The next child branch running ``name`` (numbered per name, in creation order)."""
        with self._lock:
            counter = self._children.setdefault(name, itertools.count(1))
            return Branch(f"{self.path}/{name}#{next(counter)}")


@dataclass
class _Scope:
    request: RequestContext
    extras: dict[str, Any] = field(default_factory=dict)
    #: asyncio tasks created inside the scope, so a finished unit can cancel the ones it abandoned.
    tasks: weakref.WeakSet[asyncio.Task[Any]] = field(default_factory=weakref.WeakSet)


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("harness_scope", default=None)
_branch: contextvars.ContextVar[Branch | None] = contextvars.ContextVar("harness_branch", default=None)


def current_request() -> RequestContext | None:
    """The request context of the running task, or ``None`` outside the runner."""
    scope = _scope.get()
    return scope.request if scope else None


def current_branch() -> Branch | None:
    return _branch.get()


def scope_extras() -> dict[str, Any]:
    """Per-task mutable slots shared by the layers (tracer, cassette mode). Empty outside a task."""
    scope = _scope.get()
    return scope.extras if scope else {}


@contextmanager
def request_scope(request: RequestContext, **extras: Any) -> Iterator[RequestContext]:
    """Enter ``request`` for the current task; nested tasks and threads inherit it."""
    scope_token = _scope.set(_Scope(request, dict(extras)))
    branch_token = _branch.set(Branch("0"))
    try:
        yield request
    finally:
        _branch.reset(branch_token)
        _scope.reset(scope_token)


@contextmanager
def branch_scope() -> Iterator[Branch | None]:
    """Run a block as a new child branch (for thread pools and hand-made concurrency)."""
    parent = _branch.get()
    if parent is None:
        yield None
        return
    token = _branch.set(parent.child("scope"))
    try:
        yield _branch.get()
    finally:
        _branch.reset(token)


def cancel_abandoned_tasks() -> int:
    """Cancel tasks the current scope started and left running (say, the siblings of a failed
    branch in ``asyncio.gather``): a finished task must not keep calling the model."""
    scope = _scope.get()
    if scope is None:
        return 0
    current = asyncio.current_task()
    pending = [t for t in list(scope.tasks) if t is not current and not t.done()]
    for task in pending:
        task.cancel()
    return len(pending)


def next_request_key(retry: bool = False) -> str | None:
    """The key for the next model call of the current branch, or ``None`` outside a task.

    ``retry`` reuses the previous key: the openai client's retry of a call is the same call.
    """
    scope = _scope.get()
    branch = _branch.get()
    if scope is None or branch is None:
        return None
    if retry and branch.last_key is not None:
        return branch.last_key
    key = f"{scope.request.prefix}|b{branch.path}|c{branch.next_call()}"
    branch.last_key = key
    return key


def _branch_task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
    context: contextvars.Context | None = kwargs.pop("context", None)
    if context is None:
        context = contextvars.copy_context()
    parent = context.get(_branch)
    if parent is not None:
        name = getattr(coro, "__name__", None) or type(coro).__name__
        context.run(_branch.set, parent.child(name))
    task = asyncio.Task(coro, loop=loop, context=context, **kwargs)
    scope = context.get(_scope)
    if scope is not None:
        scope.tasks.add(task)
    return task


def install_branch_factory(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Give every asyncio task created inside a request context its own branch path.

    Idempotent. Tasks created outside any request context are untouched.
    """
    loop = loop or asyncio.get_running_loop()
    if loop.get_task_factory() is not _branch_task_factory:
        loop.set_task_factory(_branch_task_factory)

"""Flows: the code under test, and the :class:`FlowContext` the runner hands it.

A flow is any ``async def flow(input, ctx)`` (or plain ``def``) that returns an output: a
string, a JSON-able value or a pydantic model. The context gives it everything that must be
the harness's to control — the ``openai`` clients (so cassettes and traces see every call), the
prompt version, the model settings, a tracer, and a random generator seeded per (task, epoch)
so flows that need randomness replay exactly.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import inspect
import random
import threading
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.core import context, trace
from harness.core.prompts import PromptVersion

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from harness.core.dataset import Task
    from harness.core.model_settings import ModelSettings

__all__ = ["Flow", "FlowContext", "flow", "get_flow", "run_flow", "FlowNotFound", "task_rng", "settings_kwargs"]


class Flow(Protocol):
    def __call__(self, input: Any, ctx: FlowContext) -> Any | Awaitable[Any]: ...


@dataclass
class FlowContext:
    """What a flow may use. Build nothing of this yourself: the runner (or ``harness.testing``) does."""

    task: Task
    variant: str
    client: AsyncOpenAI
    sync_client: OpenAI
    settings: ModelSettings
    prompt: PromptVersion | None
    rng: random.Random
    params: dict[str, Any] = field(default_factory=dict)
    #: Anything the flow wants graders to see besides its output (e.g. the domain's end state).
    state: dict[str, Any] = field(default_factory=dict)
    #: ``settings.request_kwargs()`` made once per variant by the runner (:func:`settings_kwargs`),
    #: with the settings it was made from: used while ``settings`` is still that object.
    prepared_kwargs: tuple[ModelSettings, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def model(self) -> str:
        return self.settings.model

    def model_kwargs(self) -> dict[str, Any]:
        """``model``, ``temperature``, ``max_tokens``… ready for ``client.chat.completions.create(**…)``."""
        prepared = self.prepared_kwargs
        if prepared is not None and prepared[0] is self.settings:
            return dict(prepared[1])
        return self.settings.request_kwargs()

    def span(self, name: str, /, **attributes: Any) -> Any:
        """A custom span around a block: ``with ctx.span("round", n=2): ...``."""
        return trace.span(name, **attributes)

    def event(self, name: str, /, **attributes: Any) -> Any:
        """An instant custom span: ``ctx.event("route", category="refunds")``."""
        return trace.event(name, **attributes)

    def branch(self, label: str, /) -> Any:
        """Name a parallel branch: ``with ctx.branch("critic"): ...``.

        Without a label, concurrent branches are numbered in the order they first call the
        model (replay finds each one's recording by its first request, whatever order they
        start in). A label gives one a name that reads well in keys, span ids and misses.
        """
        return context.branch(label)

    def sdk_model(self, api: str = "chat_completions") -> Any:
        """An Agents SDK model over this context's client.

        ``api="responses"`` gives ``OpenAIResponsesModel``, the SDK's default model class (the
        Responses API); ``"chat_completions"`` gives ``OpenAIChatCompletionsModel``, which most
        OpenAI-compatible servers (vLLM, Ollama) speak. Either records and replays; on a backend
        without the Responses API (llama.cpp) the backend profile carries Responses calls over
        Chat Completions on the wire (:mod:`harness.engine.responses_api`).
        """
        if api == "responses":
            from agents import OpenAIResponsesModel

            return OpenAIResponsesModel(model=self.settings.model, openai_client=self.client)
        if api != "chat_completions":
            raise ValueError(f"sdk_model: api must be 'responses' or 'chat_completions', got {api!r}")
        from agents import OpenAIChatCompletionsModel

        return OpenAIChatCompletionsModel(model=self.settings.model, openai_client=self.client)

    def sdk_settings(self) -> Any:
        """Agents SDK ``ModelSettings`` from this variant's model settings."""
        from agents import ModelSettings as SDKModelSettings

        return SDKModelSettings(
            temperature=self.settings.temperature,
            max_tokens=self.settings.max_tokens,
            top_p=self.settings.top_p,
        )


def settings_kwargs(settings: ModelSettings) -> tuple[ModelSettings, dict[str, Any]] | None:
    """``settings.request_kwargs()`` to hand every :class:`FlowContext` of a variant, or ``None``
    when a value in it is a container (a copy per call would then have to be deep).

    ``request_kwargs`` is a pydantic ``model_dump``: 4 us per model call (timeit), a tenth of the
    harness's own CPU budget per live call (issue 25, bench/live_overhead.py); a shallow copy of
    a dict made once per run is 0.2 us.
    """
    kwargs = settings.request_kwargs()
    if any(isinstance(value, dict | list | set) for value in kwargs.values()):
        return None
    return settings, kwargs


def task_rng(task_id: str, epoch: int) -> random.Random:
    """The random generator of one (task, epoch): the same numbers on every run and replay."""
    return _SeededOnFirstUse(f"{task_id}|{epoch}")


class _SeededOnFirstUse(random.Random):
    """``random.Random(seed)`` with the seed derived and applied when the flow first draws a number.

    Most flows never use ``ctx.rng``, and hashing the task id and seeding the Mersenne Twister
    cost 15-21 us per unit (timeit), a fifth of the harness's own CPU budget per call (issue 25:
    bench/runner_throughput.py). Every way numbers come out of a ``Random`` (``random``,
    ``getrandbits``, the state) seeds it first, so the numbers are those of ``random.Random(seed)``.
    """

    def __init__(self, seed_text: str | None = None) -> None:  # no super().__init__: it would seed now
        # (None: copy and pickle, which rebuild it with no argument and then set the state.)
        self._seed_text: str | None = seed_text
        self.gauss_next = None

    def _seed_now(self) -> None:
        if self._seed_text is not None:
            text, self._seed_text = self._seed_text, None
            super().seed(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))

    def random(self) -> float:
        self._seed_now()
        return super().random()

    def getrandbits(self, k: int, /) -> int:
        self._seed_now()
        return super().getrandbits(k)

    def getstate(self) -> tuple[Any, ...]:
        self._seed_now()
        return super().getstate()

    def seed(self, a: Any = None, version: int = 2) -> None:
        self._seed_text = None
        super().seed(a, version)

    def setstate(self, state: tuple[Any, ...]) -> None:
        self._seed_text = None
        super().setstate(state)


_registry: dict[str, Flow] = {}


class FlowNotFound(LookupError):
    pass


def flow(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Register a flow by name: ``@flow`` or ``@flow(name="triage")``."""

    def register(target: Callable[..., Any]) -> Callable[..., Any]:
        key = name or target.__name__
        _registry[key] = target
        target.flow_name = key  # type: ignore[attr-defined]
        return target

    return register(fn) if fn is not None else register


def get_flow(name: str) -> Flow:
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none registered yet"
        raise FlowNotFound(f"no flow named '{name}' (known: {known}); decorate it with @harness.flow") from None


def flow_name(target: Callable[..., Any]) -> str:
    """The name ``@flow`` registered ``target`` under, else its qualified name."""
    registered = getattr(target, "flow_name", None)
    if isinstance(registered, str) and registered:
        return registered
    return str(getattr(target, "__qualname__", repr(target)))


async def run_flow(target: Callable[..., Any], input: Any, ctx: FlowContext) -> Any:
    """Call a sync or async flow; sync flows run in a daemon thread that keeps the request context."""
    # An ``async def`` says so in its code flags: read them first, where ``inspect.iscoroutinefunction``
    # (unwrapping partials and methods) cost 3.8 k instructions a unit against 0.9 k (callgrind;
    # issue 25, bench/live_overhead.py).
    if type(target) is types.FunctionType and target.__code__.co_flags & inspect.CO_COROUTINE \
            or inspect.iscoroutinefunction(target):
        return await target(input, ctx)
    result = await _in_daemon_thread(functools.partial(target, input, ctx))
    if inspect.isawaitable(result):
        return await result
    return result


def _in_daemon_thread(call: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run ``call`` in a thread of its own that nothing ever joins.

    Not ``run_in_executor``: a sync flow that never returns cannot be stopped, and the default
    executor's threads are joined when the event loop closes and again at interpreter exit, so
    one hung task would hold ``harness run`` forever after its timeout row was written. A daemon
    thread is abandoned instead; the process ends when its work is done. One thread per call
    (tens of microseconds) is nothing next to a flow that calls a model.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():  # cancelled: the task timed out while the flow ran on
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        try:
            value, error = context.run(call), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, re-raised there
            value, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for this flow any more

    threading.Thread(target=work, name=f"harness-flow-{getattr(call, 'func', call).__name__}", daemon=True).start()
    return future

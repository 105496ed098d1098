"""Observers: outside a unit, code follows an app's model calls at routing's one interception point;
inside a unit the route takes them and no observer hears of them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx2
import pytest
from openai import APIConnectionError, AsyncOpenAI, OpenAI

from harness.engine import observing, routing
from harness.testing.stub_server import StubServer


@dataclass
class Heard:
    """What one observation was told."""

    path: str
    replies: list[tuple[int, bytes, str | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def answered(self, response: httpx2.Response, body: bytes, error: str | None) -> None:
        self.replies.append((response.status_code, body, error))

    def failed(self, exc: BaseException) -> None:
        self.failures.append(type(exc).__name__)


@pytest.fixture
def heard() -> Iterator[list[Heard]]:
    seen: list[Heard] = []

    def observer(request: httpx2.Request) -> Heard:
        seen.append(Heard(request.url.path))
        return seen[-1]

    routing.install()
    observing.observe(observer)
    yield seen
    observing.unobserve(observer)
    assert observing.observers() == ()


def test_an_observer_hears_each_model_call_with_its_whole_body(heard: list[Heard]) -> None:
    with StubServer() as stub:
        async def go() -> tuple[str, str]:
            async with AsyncOpenAI(base_url=stub.base_url, api_key="sk-observed-0000000000000000") as client:
                plain = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
                chunks = await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "streamed"}], stream=True)
                streamed = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
                return plain.choices[0].message.content or "", streamed

        plain, streamed = asyncio.run(go())
        with OpenAI(base_url=stub.base_url, api_key="sk-observed-0000000000000000") as sync_client:
            sync_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "sync"}])
    assert [h.path for h in heard] == ["/v1/chat/completions"] * 3
    (status, body, error), = heard[0].replies
    assert status == 200 and error is None and plain in body.decode()
    (status, body, error), = heard[1].replies
    assert body.startswith(b"data: ") and b"[DONE]" in body and error is None, "heard once the app read the stream"
    assert all(piece in body.decode() for piece in streamed.split())
    assert heard[2].replies and heard[2].replies[0][0] == 200


def test_a_failed_call_is_heard_as_a_failure(heard: list[Heard]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes

    async def go() -> None:
        async with AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x", max_retries=0) as client:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    with pytest.raises(APIConnectionError):
        asyncio.run(go())
    assert [h.failures for h in heard] == [["ConnectError"]] and heard[0].replies == []


def test_inside_a_route_no_observer_hears_and_one_that_raises_never_breaks_the_app(heard: list[Heard]) -> None:
    def broken(request: httpx2.Request) -> None:
        raise RuntimeError("an observer with a bug")

    observing.observe(broken)
    try:
        with StubServer() as stub:
            async def go() -> None:
                async with AsyncOpenAI(base_url=stub.base_url, api_key="sk-x") as app, httpx2.AsyncClient() as own:
                    routing.own(own)
                    with routing.routing(routing.Route(own, httpx2.Client())):
                        await app.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
                    assert heard == [], "the unit's route took the call"
                    await app.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])

            asyncio.run(go())
            assert stub.stats().hits == 2
    finally:
        observing.unobserve(broken)
    assert len(heard) == 1 and heard[0].replies[0][0] == 200

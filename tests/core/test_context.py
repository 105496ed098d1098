"""The request context reaches every model call, and keys come from the task's own structure.

A key names the unit of work, the branch (numbered in the order concurrent branches first call
the model, or labelled by the flow) and the call's place in its branch: never a name from inside
a library, so an SDK that renames, wraps or nests its coroutines changes no key.
"""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from harness.core.context import (
    RequestContext,
    branch,
    branch_scope,
    current_branch,
    current_request,
    install_branch_factory,
    next_request_key,
    next_request_keys,
    request_scope,
)


def _path(key: str) -> str:
    return key.split("|")[-2]


def run_in_scope(main, **extras):
    async def scoped():
        install_branch_factory()
        with request_scope(RequestContext("s", "v", "t"), **extras):
            return await main()

    return asyncio.run(scoped())


def test_no_context_outside_a_task():
    assert current_request() is None and next_request_key() is None


def test_keys_number_calls_within_a_branch_and_retries_reuse_them():
    with request_scope(RequestContext("s", "v@1", "t1", 2)):
        assert next_request_key() == "s|flow|v@1|t1|e2|b0|c1"
        assert next_request_key(retry=True) == "s|flow|v@1|t1|e2|b0|c1"
        assert next_request_key() == "s|flow|v@1|t1|e2|b0|c2"


def test_concurrent_branches_are_numbered_in_the_order_they_first_call_the_model():
    async def call(delay: float) -> str:
        await asyncio.sleep(delay)
        return next_request_key()

    async def main():
        return await asyncio.gather(call(0.03), call(0.0), call(0.01))

    keys = run_in_scope(main)
    assert [_path(k) for k in keys] == ["b0/3", "b0/1", "b0/2"]


def test_a_task_run_alone_continues_its_parents_branch_however_deeply_it_is_wrapped():
    async def model_call() -> str:
        return next_request_key()

    async def wrapper(inner):
        return await asyncio.create_task(inner)

    async def renamed_wrapper(inner):
        return await asyncio.ensure_future(wrapper(inner))

    async def main():
        first = next_request_key()
        direct = await asyncio.create_task(model_call())
        wrapped = await asyncio.create_task(wrapper(model_call()))
        doubly = await renamed_wrapper(renamed_wrapper(model_call()))
        inline = await model_call()
        return [first, direct, wrapped, doubly, inline]

    keys = run_in_scope(main)
    assert [k.split("|", 5)[-1] for k in keys] == ["b0|c1", "b0|c2", "b0|c3", "b0|c4", "b0|c5"]


def test_wrapping_each_concurrent_branch_in_more_tasks_changes_no_key():
    async def agent(n: int) -> list[str]:
        return [next_request_key(), next_request_key()]

    async def internal_wrapper(coro):
        return await asyncio.create_task(coro)

    async def plain():
        return await asyncio.gather(agent(1), agent(2))

    async def wrapped():
        return await asyncio.gather(internal_wrapper(agent(1)), internal_wrapper(internal_wrapper(agent(2))))

    assert run_in_scope(plain) == run_in_scope(wrapped)
    assert [[_path(k) for k in pair] for pair in run_in_scope(plain)] == [["b0/1", "b0/1"], ["b0/2", "b0/2"]]


def test_labelled_branches_keep_their_names_whatever_order_they_start_in():
    async def critic(name: str, delay: float) -> str:
        with branch(name):
            await asyncio.sleep(delay)
            return next_request_key()

    async def main(delays):
        return await asyncio.gather(critic("style", delays[0]), critic("facts", delays[1]))

    one = run_in_scope(lambda: main((0.0, 0.02)))
    other = run_in_scope(lambda: main((0.02, 0.0)))
    assert one == other and [_path(k) for k in one] == ["b0/style", "b0/facts"]


def test_a_label_used_again_is_numbered_and_labels_are_checked():
    with request_scope(RequestContext("s", "v", "t")):
        with branch("round"):
            assert _path(next_request_key()) == "b0/round"
        with branch("round"):
            assert _path(next_request_key()) == "b0/round#2"
        for bad in ("", "a/b", "a|b", "a#1", "7"):
            with pytest.raises(ValueError):
                branch(bad)


def test_nested_branches_hang_under_the_nearest_branch_that_did_something():
    async def leaf() -> str:
        return next_request_key()

    async def fan_out() -> list[str]:
        first = next_request_key()  # this branch now exists: its own fan-out hangs under it
        return [first, *await asyncio.gather(leaf(), leaf())]

    async def silent_fan_out() -> list[str]:
        return list(await asyncio.gather(leaf(), leaf()))  # never calls itself: not a branch

    async def main():
        return await asyncio.gather(fan_out(), silent_fan_out())

    (a, b) = run_in_scope(main)
    assert [_path(k) for k in a] == ["b0/1", "b0/1/1", "b0/1/2"]
    assert sorted(_path(k) for k in b) == ["b0/2", "b0/3"]


def test_a_fork_chooser_gives_a_replayed_branch_its_recorded_number():
    recorded = {b"beta": 1, b"alpha": 2}

    def chooser(base: str, taken: frozenset[int], body: bytes | None) -> int | None:
        return recorded.get(body or b"")

    async def call(body: bytes) -> str:
        return _path(next_request_keys(body=body).key)

    async def main():
        return await asyncio.gather(call(b"alpha"), call(b"beta"), call(b"gamma"))

    assert run_in_scope(main, fork_chooser=chooser) == ["b0/2", "b0/1", "b0/3"]


def test_legacy_keys_follow_the_format_1_scheme():
    async def draft() -> str:
        return next_request_keys().legacy

    async def main():
        return await asyncio.gather(draft(), draft())

    assert [_path(k) for k in run_in_scope(main)] == ["b0/draft#1", "b0/draft#2"]


def test_spans_resolve_branches_like_calls():
    async def spanned() -> str:
        return current_branch().path

    async def main():
        return await asyncio.gather(spanned(), spanned())

    assert run_in_scope(main) == ["0/1", "0/2"]


def test_threads_keep_the_context_with_copy_context():
    with request_scope(RequestContext("s", "v", "t")):
        ctx = contextvars.copy_context()
    assert ctx.run(current_request).task_id == "t"


def test_branch_scope_for_hand_made_concurrency():
    with request_scope(RequestContext("s", "v", "t")):
        with branch_scope():
            assert next_request_key().endswith("|b0/1|c1")
        with branch_scope():
            assert next_request_key().endswith("|b0/2|c1")

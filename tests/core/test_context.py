"""The request context reaches every model call: tasks, threads, and deterministic branch paths."""

from __future__ import annotations

import asyncio
import contextvars

from harness.core.context import (
    RequestContext,
    branch_scope,
    current_branch,
    current_request,
    install_branch_factory,
    next_request_key,
    request_scope,
)


def test_no_context_outside_a_task():
    assert current_request() is None and next_request_key() is None


def test_keys_number_calls_within_a_branch_and_retries_reuse_them():
    with request_scope(RequestContext("s", "v@1", "t1", 2)):
        assert next_request_key() == "s|flow|v@1|t1|e2|b0|c1"
        assert next_request_key(retry=True) == "s|flow|v@1|t1|e2|b0|c1"
        assert next_request_key() == "s|flow|v@1|t1|e2|b0|c2"


def test_gathered_tasks_get_branch_paths_in_creation_order_whatever_finishes_first():
    async def branch(delay: float) -> str:
        await asyncio.sleep(delay)
        return next_request_key()

    async def other() -> str:
        return current_branch().path

    async def main():
        install_branch_factory()
        with request_scope(RequestContext("s", "v", "t")):
            keys = await asyncio.gather(branch(0.03), branch(0.0), branch(0.01))
            unrelated = await asyncio.create_task(other())
        return keys, unrelated

    keys, unrelated = asyncio.run(main())
    assert [k.split("|")[-2] for k in keys] == ["b0/branch#1", "b0/branch#2", "b0/branch#3"]
    assert unrelated == "0/other#1", "numbered per coroutine name, so other tasks never shift a branch's number"


def test_threads_keep_the_context_with_copy_context():
    with request_scope(RequestContext("s", "v", "t")):
        ctx = contextvars.copy_context()
    assert ctx.run(current_request).task_id == "t"


def test_branch_scope_for_hand_made_concurrency():
    with request_scope(RequestContext("s", "v", "t")):
        with branch_scope():
            assert next_request_key().endswith("|b0/scope#1|c1")
        with branch_scope():
            assert next_request_key().endswith("|b0/scope#2|c1")

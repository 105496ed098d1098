"""A runner worker's task timeout: one timer for its units in turn, cancelling as ``asyncio.timeout`` does."""

from __future__ import annotations

import asyncio

import pytest

from harness.engine.deadline import WorkerDeadline


def test_a_block_past_its_due_time_leaves_as_timeout_error() -> None:
    async def main() -> bool:
        deadline = WorkerDeadline(0.05)
        with pytest.raises(TimeoutError), deadline:
            await asyncio.sleep(5)
        deadline.close()
        return deadline.expired()

    assert asyncio.run(main()) is True


def test_a_later_block_is_not_cut_short_by_the_timer_an_earlier_block_armed() -> None:
    # Block 1 arms the timer for t=0.2 and ends at 0.15; block 2 (due 0.35) runs through 0.2.
    async def main() -> list[bool]:
        deadline = WorkerDeadline(0.2)
        expired = []
        for _ in range(2):
            with deadline:
                await asyncio.sleep(0.15)
            expired.append(deadline.expired())
        # and the re-armed timer still ends a block that overruns
        with pytest.raises(TimeoutError), deadline:
            await asyncio.sleep(5)
        expired.append(deadline.expired())
        deadline.close()
        return expired

    assert asyncio.run(main()) == [False, False, True]


def test_a_blocks_own_timeout_error_is_not_the_deadlines() -> None:
    async def main() -> bool:
        deadline = WorkerDeadline(10)
        with pytest.raises(TimeoutError, match="the flow's own"), deadline:
            raise TimeoutError("the flow's own")
        deadline.close()
        return deadline.expired()

    assert asyncio.run(main()) is False


def test_someone_elses_cancellation_goes_on_as_cancellation() -> None:
    async def worker(deadline: WorkerDeadline, started: asyncio.Event) -> None:
        with deadline:
            started.set()
            await asyncio.sleep(5)

    async def main() -> bool:
        deadline, started = WorkerDeadline(10), asyncio.Event()
        task = asyncio.ensure_future(worker(deadline, started))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline.close()
        return deadline.expired()

    assert asyncio.run(main()) is False


def test_the_timer_between_blocks_cancels_nothing() -> None:
    async def main() -> str:
        deadline = WorkerDeadline(0.05)
        with deadline:
            pass
        await asyncio.sleep(0.1)  # the armed timer fires here, between blocks
        deadline.close()
        return "not cancelled"

    assert asyncio.run(main()) == "not cancelled"


def test_one_deadline_bounds_one_task() -> None:
    async def enter(deadline: WorkerDeadline) -> None:
        with deadline:
            pass

    async def main() -> None:
        deadline = WorkerDeadline(1)
        await enter(deadline)
        with pytest.raises(RuntimeError, match="one task"):
            await asyncio.ensure_future(enter(deadline))
        deadline.close()

    asyncio.run(main())


def test_a_runs_units_in_turn_each_get_their_whole_timeout(tmp_path) -> None:
    """One worker, units of 0.25 s under a 0.4 s timeout: the second and third run through the time
    the first unit's timer was armed for, and only the unit that overruns is a timeout row."""
    import json

    from harness import RunOptions, Suite, Variant, run_suite_sync

    async def nap(input, ctx):
        await asyncio.sleep(float(input))
        return "woke"

    dataset = tmp_path / "d.jsonl"
    dataset.write_text("".join(json.dumps({"id": f"t{i}", "input": s}) + "\n" for i, s in enumerate(["0.25", "0.25", "0.25", "5"])))
    suite = Suite(name="naps", dataset=dataset, variants=[Variant("v", flow=nap)])
    result = run_suite_sync(suite, RunOptions(timeout_s=0.4, concurrency=1, runs_dir=tmp_path / "runs", record_mode="off"))
    rows = {row.task_id: (row.output, row.error.kind if row.error else None) for row in result.folder.rows()}
    assert rows == {"t0": ("woke", None), "t1": ("woke", None), "t2": ("woke", None), "t3": (None, "timeout")}

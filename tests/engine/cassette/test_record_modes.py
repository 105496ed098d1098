"""``once`` records whatever is not recorded whole, and every miss says the command that fixes it.

A recording that ended in an error or holds no calls is recorded again by ``once`` (a flow fixed
after a failure must not replay it, nor miss every call). A miss for a unit never recorded points
to ``once --ids …``; a miss for a stale recording (a changed request, more calls) points to
``rewrite --ids …`` — ``once`` would replay the stale recording and miss again.
"""

from __future__ import annotations

import re

from harness.testing.stub_server import StubServer

DEAD_URL = "http://127.0.0.1:9/v1"


async def ask(input, ctx):
    reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                     **ctx.model_kwargs())
    return reply.choices[0].message.content


async def broken_before_any_call(input, ctx):
    raise ValueError("a bug in the flow")


async def no_calls(input, ctx):
    return "nothing asked"


async def ask_differently(input, ctx):
    return await ask(f"please: {input}", ctx)


def _hint_options(message: str) -> dict[str, str]:
    """The options of the ``harness run`` command a miss hint gives."""
    command = re.search(r"harness run (?:<suite file>|\S+) (--.*)$", message, re.MULTILINE)
    assert command, message
    parts = command.group(1).split()
    return dict(zip(parts[::2], parts[1::2], strict=True))


def _run_hint(run, suite, url, message):
    options = _hint_options(message)
    return run(suite, url, record_mode=options["--record-mode"], ids=[options["--ids"]],
               variants=[options["--variant"]])


def test_once_records_again_a_task_whose_recording_failed_before_its_first_call(make_suite, run, stub):
    failed = run(make_suite(flow=broken_before_any_call, n=2), stub.base_url, record_mode="once")
    assert failed.errors == 2

    fixed = make_suite(flow=ask, n=2)
    assert run(fixed, DEAD_URL, record_mode="none").errors == 2, "none replays the recorded failure"
    recorded = run(fixed, stub.base_url, record_mode="once")
    assert recorded.errors == 0 and stub.stats().hits == 2
    assert run(fixed, DEAD_URL, record_mode="none").errors == 0


def test_once_records_again_a_recording_that_holds_no_calls(make_suite, run, stub):
    assert run(make_suite(flow=no_calls, n=1), stub.base_url, record_mode="once").errors == 0
    assert run(make_suite(flow=ask, n=1), stub.base_url, record_mode="once").errors == 0
    assert stub.stats().hits == 1
    assert run(make_suite(flow=ask, n=1), DEAD_URL, record_mode="none").errors == 0


def test_once_keeps_a_whole_recording(make_suite, run, stub):
    run(make_suite(flow=ask, n=2), stub.base_url, record_mode="once")
    run(make_suite(flow=ask, n=2), stub.base_url, record_mode="once")
    assert stub.stats().hits == 2


def test_a_missing_recording_hints_once_and_that_command_records_it(make_suite, run, stub):
    suite = make_suite(flow=ask, n=2)
    run(suite, stub.base_url, record_mode="once", ids=["t000"])
    missed = run(suite, DEAD_URL, record_mode="none")
    (row,) = [r for r in missed.folder.rows() if r.error]
    assert row.task_id == "t001" and "--record-mode once --ids t001 --variant ask@v1" in row.error.message
    _run_hint(run, suite, stub.base_url, row.error.message)
    assert run(suite, DEAD_URL, record_mode="none").errors == 0


def test_a_changed_request_hints_rewrite_with_the_diff_and_that_command_fixes_it(make_suite, run, nonce_stub):
    run(make_suite(flow=ask, n=1), nonce_stub.base_url, record_mode="once")
    changed = make_suite(flow=ask_differently, n=1)
    (row,) = list(run(changed, DEAD_URL, record_mode="none").folder.rows())
    message = row.error.message
    assert row.error.kind == "cassette_miss" and "please:" in message, "the diff shows what changed"
    assert "--record-mode rewrite --ids t000 --variant ask@v1" in message and "--record-mode once" not in message

    still = run(changed, nonce_stub.base_url, record_mode="once")
    assert still.errors == 1, "once replays the stale recording: it cannot be the hint"
    _run_hint(run, changed, nonce_stub.base_url, message)
    assert run(changed, DEAD_URL, record_mode="none").errors == 0


def test_more_calls_than_recorded_hints_rewrite(make_suite, run):
    async def twice(input, ctx):
        await ask(input, ctx)
        return await ask(input + "?", ctx)

    with StubServer() as stub:
        run(make_suite(flow=ask, n=1), stub.base_url, record_mode="once")
    (row,) = list(run(make_suite(flow=twice, n=1), DEAD_URL, record_mode="none").folder.rows())
    assert "no such call" in row.error.message and "--record-mode rewrite --ids t000" in row.error.message


def test_a_corrupt_cassette_fails_its_own_task_only_naming_the_file_and_the_fix(make_suite, run, stub, tmp_path):
    suite = make_suite(flow=ask, n=3)
    run(suite, stub.base_url, record_mode="once")
    damaged = tmp_path / "cassettes" / "demo" / "ask@v1" / "t001.json"
    damaged.write_text(damaged.read_text()[:200])  # cut short, as a crash or a bad merge leaves it
    truncated = run(suite, DEAD_URL, record_mode="none")
    rows = {r.task_id: r for r in truncated.folder.rows()}
    assert truncated.manifest.status == "complete" and len(rows) == 3
    assert rows["t000"].error is None and rows["t002"].error is None
    error = rows["t001"].error
    assert error.kind == "cassette_miss" and str(damaged) in error.message and "unreadable" in error.message
    assert "--record-mode once --ids t001 --variant ask@v1" in error.message

    run(suite, stub.base_url, record_mode="once")  # the fix the message gives
    assert run(suite, DEAD_URL, record_mode="none").errors == 0


def test_a_cassette_that_is_not_a_recording_fails_its_task_even_if_it_calls_nothing(make_suite, run, stub, tmp_path):
    run(make_suite(flow=no_calls, n=1), stub.base_url, record_mode="once")
    path = tmp_path / "cassettes" / "demo" / "ask@v1" / "t000.json"
    path.write_text('{"interactions": "not a list"}')
    (row,) = list(run(make_suite(flow=no_calls, n=1), DEAD_URL, record_mode="none").folder.rows())
    assert row.error is not None and "unreadable" in row.error.message

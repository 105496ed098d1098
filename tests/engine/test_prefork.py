"""Prefork: a helper forked early runs one call later, with what it prepared."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from harness.prefork import Prefork, PreforkFailed

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")

PREPARED: list[str] = []


def prepare() -> None:
    PREPARED.append("imports done")


def where_and_what(extra: str) -> tuple[int, list[str], str]:
    return os.getpid(), list(PREPARED), extra


def fails() -> None:
    raise ValueError("the report could not be written")


def dies() -> None:
    os._exit(7)


@pytest.fixture
def helper():
    started = Prefork.start(prepare)
    assert started is not None
    yield started
    started.close()


def test_the_call_runs_in_the_helper_after_its_preparation(helper: Prefork) -> None:
    pid, prepared, extra = helper.call(where_and_what, "argument")
    assert pid != os.getpid()
    assert prepared == ["imports done"] and PREPARED == [], "prepared there, not here"
    assert extra == "argument"


def test_a_call_that_raises_comes_back_as_prefork_failed_with_its_traceback(helper: Prefork) -> None:
    with pytest.raises(PreforkFailed, match=r"(?s)Traceback.*ValueError: the report could not be written"):
        helper.call(fails)


def test_a_helper_that_died_fails_the_call_instead_of_hanging(helper: Prefork) -> None:
    with pytest.raises(PreforkFailed, match="exited with code 7 before answering"):
        helper.call(dies)


def test_a_helper_released_without_a_call_exits_cleanly() -> None:
    started = Prefork.start(prepare)
    assert started is not None
    started.close()
    assert started._process.exitcode == 0


def prepare_slowly(marker: str) -> None:
    import time

    time.sleep(0.3)
    with open(marker, "w") as handle:
        handle.write("prepared")


def test_wait_returns_once_the_preparation_is_done(tmp_path) -> None:
    import functools

    marker = tmp_path / "marker"
    started = Prefork.start(functools.partial(prepare_slowly, str(marker)))
    assert started is not None
    started.wait()
    assert marker.read_text() == "prepared"
    assert started._process.exitcode == 0

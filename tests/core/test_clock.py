"""Timestamps: one format everywhere, and a given Unix time stamped as datetime would stamp it."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest

from harness.core.clock import utc_now


def _as_datetime_writes(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@pytest.mark.parametrize("at", [0.0, 1.9999995, 1e9 + 0.0000005, 1e9 + 0.9999995, 1e9 + 0.9999996, 1796694131.0,
                                1796694131.123456, -0.5, -1.0000004])
def test_a_given_time_is_stamped_as_datetime_rounds_it(at: float) -> None:
    assert utc_now(at) == _as_datetime_writes(at)


def test_times_across_decades_are_stamped_as_datetime_rounds_them() -> None:
    rng = random.Random(26)
    for at in (rng.uniform(0, 4e9) for _ in range(20000)):
        assert utc_now(at) == _as_datetime_writes(at), at


def test_now_is_utc_with_microseconds_and_a_z() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", utc_now())

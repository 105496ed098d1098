"""Run settings: one range per setting, checked the same way wherever the setting comes in."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.core.dataset import Dataset
from harness.core.run_settings import SettingError, check_setting, check_settings
from harness.engine.runner import RunOptions, Shard
from harness.engine.suite import Suite, SuiteError, Variant


@pytest.mark.parametrize(("name", "value", "message"), [
    ("concurrency", 0, "concurrency must be a whole number from 1 to 1024"),
    ("concurrency", -1, "concurrency must be a whole number from 1 to 1024"),
    ("concurrency", 100_000, "use --workers to spread a large replay"),
    ("concurrency", 2.5, "concurrency must be a whole number"),
    ("concurrency", True, "concurrency must be a whole number"),
    ("epochs", 0, "epochs must be a whole number of at least 1; got 0"),
    ("timeout_s", 0, "timeout_s must be a number above 0 (seconds per task); got 0"),
    ("timeout_s", math.nan, "timeout_s must be a number above 0"),
    ("sample", 0, "sample must be a whole number of at least 1"),
    ("limit", -3, "limit must be a whole number of at least 1"),
    ("workers", -1, "workers must be a whole number from 0 to 1024 (0 means one per CPU core)"),
    ("max_error_rate", 1.5, "max_error_rate must be a number from 0 to 1"),
])
def test_a_value_out_of_range_names_the_range(name: str, value: object, message: str) -> None:
    with pytest.raises(SettingError) as info:
        check_setting(name, value)
    assert message in str(info.value)


@pytest.mark.parametrize(("name", "value"), [("concurrency", 1), ("concurrency", 1024), ("epochs", 3),
                                             ("timeout_s", 0.5), ("workers", 0), ("sample", None)])
def test_a_value_in_range_passes(name: str, value: object) -> None:
    check_setting(name, value)


def test_every_bad_setting_is_named_at_once_with_the_callers_spelling() -> None:
    with pytest.raises(SettingError) as info:
        check_settings({"concurrency": 0, "timeout_s": -1, "epochs": 2}, {"timeout_s": "--timeout"})
    text = str(info.value)
    assert "concurrency must be" in text and "--timeout must be" in text and "epochs" not in text


def test_run_options_suite_and_dataset_use_the_same_check(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="concurrency must be a whole number from 1 to 1024"):
        RunOptions(concurrency=0).check()
    with pytest.raises(SuiteError, match="suite 's': epochs must be a whole number of at least 1; got 0"):
        Suite(name="s", dataset="d.jsonl", variants=[Variant("v", flow=str)], epochs=0)
    with pytest.raises(SettingError, match="sample must be a whole number of at least 1; got 0"):
        Dataset(tmp_path / "d.jsonl").select(sample=0)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "2", "-1/3"])
def test_a_shard_must_be_i_of_n(text: str) -> None:
    with pytest.raises(SettingError, match=r"shard i/N must have whole numbers 1 <= i <= N"):
        Shard.parse(text)


def test_a_good_shard_parses() -> None:
    assert Shard.parse("2/4") == Shard(2, 4)

"""Start-up speed-ups: each can be turned off alone, and each does its job when on."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.engine import speedups


@pytest.fixture
def fresh_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module nobody has imported yet."""
    name = f"speedups_probe_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_every_speedup_is_on_unless_named_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_SPEEDUPS_OFF", raising=False)
    assert all(speedups.enabled(name) for name in speedups.NAMES)
    monkeypatch.setenv("HARNESS_SPEEDUPS_OFF", "prefetch, prefork")
    assert [name for name in speedups.NAMES if not speedups.enabled(name)] == ["prefork", "prefetch"]


def test_an_unknown_speedup_is_a_mistake_not_a_silent_on() -> None:
    with pytest.raises(ValueError, match="unknown speed-up 'replay_tls'"):
        speedups.enabled("replay_tls")


def test_after_import_installs_right_after_the_module_is_first_imported(fresh_module: str) -> None:
    seen: list[int] = []
    speedups.after_import(fresh_module, lambda: seen.append(sys.modules[fresh_module].VALUE))
    assert seen == [] and fresh_module not in sys.modules, "nothing is imported ahead of need"
    __import__(fresh_module)
    assert seen == [42], "installed once the module's code has run"
    sys.modules.pop(fresh_module)
    __import__(fresh_module)
    assert seen == [42], "a one-shot hook"


def test_after_import_installs_at_once_when_the_module_is_already_imported(fresh_module: str) -> None:
    __import__(fresh_module)
    seen: list[str] = []
    speedups.after_import(fresh_module, lambda: seen.append("installed"))
    assert seen == ["installed"]


def test_with_sdk_hook_off_the_module_is_imported_at_once(fresh_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_SPEEDUPS_OFF", "sdk_hook")
    seen: list[str] = []
    speedups.after_import(fresh_module, lambda: seen.append("installed"))
    assert fresh_module in sys.modules and seen == ["installed"]


def test_read_ahead_asks_for_the_files_that_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_SPEEDUPS_OFF", raising=False)
    files = [tmp_path / f"{i}.json" for i in range(3)]
    for path in files:
        path.write_text("{}")
    assert speedups.read_ahead([*files, tmp_path / "missing.json"]) == 3
    monkeypatch.setenv("HARNESS_SPEEDUPS_OFF", "prefetch")
    assert speedups.read_ahead(files) == 0



def test_a_run_keeps_what_existed_before_it_out_of_collections_and_gives_it_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    monkeypatch.delenv("HARNESS_SPEEDUPS_OFF", raising=False)
    before = gc.get_freeze_count()
    with speedups.frozen_heap():
        assert gc.get_freeze_count() > before, "the objects alive at the start are frozen"
    assert gc.get_freeze_count() == before, "and unfrozen after, so garbage among them is collected again"
    monkeypatch.setenv("HARNESS_SPEEDUPS_OFF", "gc_freeze")
    with speedups.frozen_heap():
        assert gc.get_freeze_count() == before


def test_reporting_collects_less_often_and_puts_the_thresholds_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    monkeypatch.delenv("HARNESS_SPEEDUPS_OFF", raising=False)
    thresholds = gc.get_threshold()
    with pytest.raises(RuntimeError), speedups.sparse_gc():
        assert gc.get_threshold()[0] == max(speedups.SPARSE_GC_THRESHOLD, thresholds[0])
        assert gc.get_threshold()[1:] == thresholds[1:] and gc.isenabled(), "still collecting, less often"
        raise RuntimeError("the block fails")
    assert gc.get_threshold() == thresholds, "restored even when the block raises"
    monkeypatch.setenv("HARNESS_SPEEDUPS_OFF", "gc_sparse")
    with speedups.sparse_gc():
        assert gc.get_threshold() == thresholds

"""Each suite runs once per session across processes, and a process that dies holding it hands it on.

Real processes (forked) share a real session folder, as xdist workers do.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from harness.pytest_plugin.coordination import Coordinator, file_key

fork = multiprocessing.get_context("fork")


def _run_once(root: str, key: str, marker_dir: str, delay: float) -> None:
    def work() -> dict[str, object]:
        (Path(marker_dir) / f"ran-{os.getpid()}").touch()
        time.sleep(delay)
        return {"run_folder": f"by-{os.getpid()}"}

    info = Coordinator(Path(root)).once(key, work)
    (Path(marker_dir) / f"saw-{os.getpid()}.json").write_text(json.dumps(info))


def _die_holding_the_lock(root: str, key: str, started: str) -> None:
    def work() -> dict[str, object]:
        Path(started).touch()
        time.sleep(0.5)
        os._exit(9)  # killed mid-run: nothing published, no cleanup

    Coordinator(Path(root)).once(key, work)


def test_four_processes_run_the_work_once_and_all_read_its_result(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    procs = [fork.Process(target=_run_once, args=(str(tmp_path / "coord"), "suite-a", str(markers), 0.3))
             for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert len(list(markers.glob("ran-*"))) == 1
    seen = {json.loads(p.read_text())["run_folder"] for p in markers.glob("saw-*.json")}
    assert len(seen) == 1 and len(list(markers.glob("saw-*.json"))) == 4


def test_a_process_that_dies_holding_a_suite_hands_it_to_the_next(tmp_path: Path) -> None:
    root, started = tmp_path / "coord", tmp_path / "started"
    dying = fork.Process(target=_die_holding_the_lock, args=(str(root), "suite-b", str(started)))
    dying.start()
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline, "the first process never started the work"
        time.sleep(0.01)
    info = Coordinator(root).once("suite-b", lambda: {"run_folder": "taken-over"})  # waits for the lock
    dying.join(30)
    assert dying.exitcode == 9
    assert info == {"run_folder": "taken-over"}
    assert Coordinator(root).results() == [{"run_folder": "taken-over"}]


def test_an_interrupted_run_tells_the_others_why(tmp_path: Path) -> None:
    coordinator = Coordinator(tmp_path)

    def interrupted() -> dict[str, object]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        coordinator.once("suite-c", interrupted)
    assert coordinator.once("suite-c", lambda: {"run_folder": "never"}) == {
        "error": "the suite run was interrupted (KeyboardInterrupt)"}


def test_suite_keys_are_file_names_unique_per_node_id() -> None:
    a, b = file_key("evals/test_x.py::support"), file_key("evals/test_x.py::support ")
    assert a != b
    assert all(c.isalnum() or c in "-_." for c in a)

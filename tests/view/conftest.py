"""The viewer over real run folders: the demo's support suite replayed from its cassettes, served
by a real uvicorn server on 127.0.0.1, and a run that grows while it is read."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from harness.core.results import ResultRow, ResultWriter, RunFolder, RunManifest, row_line
from harness.engine.loader import find_suite
from harness.engine.runner import RunOptions, run_suite
from harness.engine.runtime import RuntimeConfig

ROOT = Path(__file__).resolve().parents[2]
DEAD_URL = "http://127.0.0.1:9/v1"


def replay(suite_file: Path, runs: Path) -> Path:
    suite = find_suite(suite_file)
    config = RuntimeConfig(base_url=DEAD_URL, cassette_dir=ROOT / "cassettes")
    result = asyncio.run(run_suite(suite, RunOptions(record_mode="none", runtime=config, runs_dir=runs, concurrency=8)))
    return result.path


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding replays of the support suite (Agents SDK: agents, handoffs, tools,
    guardrails) and of the release suite (three variants of one flow, for side by side)."""
    runs = tmp_path_factory.mktemp("view-runs")
    replay(ROOT / "evals" / "test_support.py", runs)
    replay(ROOT / "evals" / "release" / "test_router_release.py", runs)
    return runs


def _run_of(runs: Path, suite: str) -> Path:
    return next(p for p in runs.iterdir() if (p / "run.json").is_file() and f"-{suite}-" in p.name)


@pytest.fixture(scope="session")
def support_run(demo_runs: Path) -> Path:
    return _run_of(demo_runs, "support")


@pytest.fixture(scope="session")
def release_run(demo_runs: Path) -> Path:
    return _run_of(demo_runs, "router-release")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Viewer:
    url: str
    runs: Path

    def get(self, path: str, **kwargs: object) -> httpx2.Response:
        return httpx2.get(self.url + path, timeout=60, **kwargs)  # type: ignore[arg-type]


def serve(runs: Path | None, allowed_hosts: list[str] | None = None, traces: Path | None = None) -> Iterator[Viewer]:
    """``harness view``'s app under a real uvicorn server in a thread, stopped at the end."""
    import uvicorn

    from harness.view import create_app

    port = free_port()
    app = create_app(runs, traces_dir=traces, allowed_hosts=allowed_hosts)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the viewer did not start")
        time.sleep(0.05)
    try:
        yield Viewer(url=f"http://127.0.0.1:{port}", runs=runs or traces or Path())
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def viewer(demo_runs: Path) -> Iterator[Viewer]:
    yield from serve(demo_runs)


class GrowingRun:
    """A copy of a finished run, re-written row by row as a running run writes it."""

    def __init__(self, source: Path, runs: Path, run_id: str = "29990101T000000Z-support-live") -> None:
        manifest = RunFolder(source).manifest()
        self.rows: list[ResultRow] = [r.model_copy(update={"run_id": run_id}) for r in RunFolder(source).rows()]
        self.manifest = manifest.model_copy(update={"run_id": run_id, "status": "running", "finished_at": None})
        self.folder = RunFolder.create(runs, self.manifest)
        self.writer = ResultWriter(self.folder.results_path)
        self.written = 0

    def write(self, n: int) -> None:
        for row in self.rows[self.written:self.written + n]:
            self.writer.write(row)
        self.written = min(len(self.rows), self.written + n)

    def write_half(self) -> None:
        """Half of the next row, no newline: what a reader sees mid-write (or after kill -9)."""
        self._line = row_line(self.rows[self.written]) + "\n"
        self._append(self._line[: len(self._line) // 2])

    def write_other_half(self) -> None:
        self._append(self._line[len(self._line) // 2:])
        self.written += 1

    def _append(self, text: str) -> None:
        with self.folder.results_path.open("a", encoding="utf-8") as handle:
            handle.write(text)

    def finish(self) -> None:
        self.writer.close()
        done: RunManifest = self.manifest.model_copy(update={"status": "complete", "finished_at": "2999-01-01T00:00:01Z"})
        self.folder.write_manifest(done)

    def remove(self) -> None:
        self.writer.close()
        shutil.rmtree(self.folder.path, ignore_errors=True)


@pytest.fixture
def grow(viewer: Viewer, support_run: Path) -> Iterator[Callable[[str], GrowingRun]]:
    """Start a run that grows in the viewer's folder (removed after the test)."""
    made: list[GrowingRun] = []

    def start(run_id: str = "29990101T000000Z-support-live") -> GrowingRun:
        made.append(GrowingRun(support_run, viewer.runs, run_id))
        return made[-1]

    yield start
    for run in made:
        run.remove()

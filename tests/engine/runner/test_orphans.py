"""``kill -9`` of ``harness run --workers N`` leaves no process behind and no cassette without its row.

The workers and the report helper are forked children: with the parent killed they must die
too (they would go on calling the model, then block forever on a pipe), and a unit whose row
the dead parent can no longer write must leave no recording either.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from harness.testing.stub_server import StubServer

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")

SUITE = textwrap.dedent('''
    from pathlib import Path
    from harness import ModelSettings, Suite, Variant

    async def ask(input, ctx):
        reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                         **ctx.model_kwargs())
        return reply.choices[0].message.content

    suite = Suite(name="long", dataset=Path(__file__).parent / "tasks.jsonl",
                  variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))])
''')


def _rows(project: Path) -> list[dict]:
    found = list((project / "reports" / "runs").glob("*/results.jsonl"))
    if not found:
        return []
    return [json.loads(line) for line in found[0].read_text().splitlines() if line.strip().endswith("}")]


def test_kill_9_of_the_parent_leaves_no_child_and_no_cassette_without_a_row(tmp_path: Path):
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps({"id": f"t{i:03d}", "input": f"q {i}"}) + "\n"
                                                  for i in range(200)))
    (tmp_path / "test_long.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with StubServer(latency=0.2) as stub:
        parent = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", "test_long.py", "--workers", "2", "--concurrency", "4",
             "--record-mode", "once", "--base-url", stub.base_url, "--no-progress"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 180  # a loaded machine imports slowly
            while not _rows(tmp_path) and time.monotonic() < deadline and parent.poll() is None:
                time.sleep(0.05)
            assert _rows(tmp_path), "the run never wrote a row"
            children = psutil.Process(parent.pid).children(recursive=True)
            assert len(children) >= 3, "two workers and the report helper"
            parent.send_signal(signal.SIGKILL)
            parent.wait(10)
            _, alive = psutil.wait_procs(children, timeout=5)
            assert not alive, f"survived their parent: {[p.name() for p in alive]}"
        finally:
            if parent.poll() is None:
                parent.kill()
        hits = stub.stats().hits
        time.sleep(1.0)
        assert stub.stats().hits == hits, "nothing calls the model once the run is killed"

    rows = {row["task_id"] for row in _rows(tmp_path)}
    recorded = {p.stem for p in (tmp_path / "cassettes" / "long" / "ask@v1").glob("*.json")}
    assert recorded - rows == set(), "a cassette was written for a unit whose row never was"
    assert len(rows) < 200

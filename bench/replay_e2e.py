"""End to end: a 4,000-task single-call suite replayed from cassettes, process start to report.

Records the suite once against the stub server (its own process), stops the server, then times
``harness run <suite> --record-mode none`` as a fresh process — imports, dataset, replay of
every call, grading, results and the full report (Markdown, HTML, JSON, CSV/parquet, plots),
with ``--workers 2`` (one process per core; ``--workers 1`` shows the one-process figure).
Goal: <= 6 s wall on 2 cores. The last line prints ``wall_s=<figure>``.

    python bench/replay_e2e.py [--n 4000] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.testing.stub_server import StubProcess

SUITE = '''
from harness import ModelSettings, Score, Suite, Variant, grader

async def ask(input, ctx):
    reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                     **ctx.model_kwargs())
    return reply.choices[0].message.content

@grader
def replied():
    return lambda attempt: Score.of(attempt.output_text.startswith("stub reply"), reason="stub reply")

suite = Suite(name="e2e", dataset="tasks.jsonl", graders=[replied().named("replied")],
              variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))])
'''


def harness(project: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", "run", "test_e2e.py", "--no-progress", *args],
                   cwd=project, check=True, stdout=subprocess.DEVNULL, env=os.environ | {"PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (this machine has 2 cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed replays; the best is reported")
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    (project / "test_e2e.py").write_text(SUITE)
    (project / "tasks.jsonl").write_text("".join(json.dumps({"id": f"t{i:05d}", "input": f"question {i}"}) + "\n"
                                                 for i in range(args.n)))
    with StubProcess(nonce=True) as stub:
        recorded = harness(project, "--record-mode", "once", "--base-url", stub.base_url, "--concurrency", "64",
                           "--no-report")
    print(f"recorded {args.n} tasks in {recorded:.1f}s")
    walls = [harness(project, "--record-mode", "none", "--concurrency", "64", "--workers", str(args.workers))
             for _ in range(args.repeat)]
    print(f"replay + report, process start to end: {', '.join(f'{w:.2f}s' for w in walls)}")
    print(f"wall_s={min(walls):.2f}")


if __name__ == "__main__":
    main()

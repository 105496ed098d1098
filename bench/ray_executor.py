"""``--executor ray`` beside one process and ``--workers 2``: replay, live, per-unit overhead, 1M-unit projection.

Builds a single-call suite in a temporary project (its flow is defined in the suite file, so it
travels to the Ray workers by value, as a user's would), records it once against the stub
server, then times, in this process (``run_suite``; no process start, no report):

* a ``--n``-task replay (default 4,000) in one process, with ``--workers 2``, on a Ray instance
  on this machine (``ray.init``, 2 CPUs: "Ray local mode") and on a two-node Ray cluster on
  127.0.0.1 (``ray.cluster_utils.Cluster``, one CPU per node);
* a ``--live``-task live run (default 2,000) against the stub with ``--latency`` seconds per reply,
  the same ways;
* the scheduling overhead per unit: a flow that makes no call, on Ray and in one process,
  as the driver's CPU per unit and the wall time per unit;
* the driver's memory per pending unit (what a 1M-unit run holds before it starts).

It ends with the projection for a 1M-unit suite on a 10-node cluster that docs/ray.md quotes.
Ray's cluster start (seconds) is timed apart and not counted in the runs.

    python bench/ray_executor.py [--n 4000] [--live 2000] [--latency 0.05] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep a 127.0.0.1 cluster on loopback

from harness.engine.loader import find_suite
from harness.engine.runner import RunOptions, _Run, run_suite
from harness.engine.runtime import RuntimeConfig
from harness.testing.stub_server import StubProcess

SUITE = '''
from harness import ModelSettings, Score, Suite, Variant, grader

async def ask(input, ctx):
    reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                     **ctx.model_kwargs())
    return reply.choices[0].message.content

async def nothing(input, ctx):
    return input

@grader
def replied():
    return lambda attempt: Score.of(bool(attempt.output_text), reason="an answer")

suite = Suite(name="bench_ray", dataset="tasks.jsonl", graders=[replied().named("replied")],
              variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))])
noop = Suite(name="bench_noop", dataset="tasks.jsonl", graders=[replied().named("replied")],
             variants=[Variant("noop@v1", flow=nothing, model=ModelSettings(model="stub"))])
'''


def timed_run(suite: Any, runs: Path, **options: Any) -> tuple[float, float, int]:
    """(wall s, this process's CPU s, rows) of one run."""
    runtime = options.pop("runtime")
    opts = RunOptions(runs_dir=runs, runtime=runtime, **options)
    wall, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(run_suite(suite, opts))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert result.errors == 0, f"{result.errors} errors in {result.path}"
    return wall, cpu, result.rows


class RayTarget:
    """A Ray instance on this machine, or a two-node cluster on 127.0.0.1; this process is the driver."""

    def __init__(self, kind: str) -> None:
        import ray

        self.kind, self.ray, self.cluster = kind, ray, None
        started = time.perf_counter()
        if kind == "local":
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        else:
            from ray.cluster_utils import Cluster

            loopback = {"node_ip_address": "127.0.0.1", "num_cpus": 1}
            self.cluster = Cluster(initialize_head=True, head_node_args={"include_dashboard": False, **loopback})
            self.cluster.add_node(**loopback)
            self.cluster.wait_for_nodes()
            ray.init(address=self.cluster.address, log_to_driver=False)
        self.start_s = time.perf_counter() - started

    def close(self) -> None:
        self.ray.shutdown()
        if self.cluster is not None:
            self.cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000, help="tasks replayed")
    parser.add_argument("--live", type=int, default=2000, help="tasks run live against the stub")
    parser.add_argument("--latency", type=float, default=0.05, help="the stub's seconds per reply (live)")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    project = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    (project / "suite_ray.py").write_text(SUITE)
    (project / "tasks.jsonl").write_text("".join(json.dumps({"id": f"t{i:05d}", "input": f"question {i}"}) + "\n"
                                                 for i in range(max(args.n, args.live))))
    os.chdir(project)
    sys.path.insert(0, str(project))
    suite = find_suite(project / "suite_ray.py", "bench_ray")
    noop = find_suite(project / "suite_ray.py", "bench_noop")
    cassettes = project / "cassettes"
    common = {"concurrency": args.concurrency, "limit": args.n}

    with StubProcess(startup_timeout=120) as stub:
        wall, _, rows = timed_run(suite, project / "runs", record_mode="once", **common,
                                  runtime=RuntimeConfig(base_url=stub.base_url, cassette_dir=cassettes))
    print(f"recorded {rows} tasks in {wall:.1f}s (one process)")

    replay: dict[str, tuple[float, float, int]] = {}
    live: dict[str, tuple[float, float, int]] = {}
    overhead: dict[str, tuple[float, float, int]] = {}

    def runs_for(label: str, **executor: Any) -> None:
        offline = RuntimeConfig(base_url="http://127.0.0.1:9/v1", cassette_dir=cassettes)
        replay[label] = timed_run(suite, project / "runs", record_mode="none", **common, **executor, runtime=offline)
        with StubProcess(latency=args.latency, startup_timeout=120) as slow:
            live[label] = timed_run(suite, project / "runs", record_mode="off", concurrency=args.concurrency,
                                    limit=args.live, **executor, runtime=RuntimeConfig(base_url=slow.base_url))
        overhead[label] = timed_run(noop, project / "runs", record_mode="off", **common, **executor,
                                    runtime=RuntimeConfig(base_url="http://127.0.0.1:9/v1"))

    runs_for("one process", workers=1)
    runs_for("--workers 2", workers=2)
    starts = {}
    for kind, label in (("local", "Ray local (2 CPUs)"), ("cluster", "Ray 2-node cluster")):
        target = RayTarget(kind)
        starts[label] = target.start_s
        try:
            runs_for(label, executor="ray")
        finally:
            target.close()

    print(f"\n{args.n}-task replay, {args.live}-task live run (stub latency {args.latency * 1000:.0f} ms), "
          f"concurrency {args.concurrency}; walls exclude Ray's start ({', '.join(f'{k}: {v:.1f}s' for k, v in starts.items())})")
    print(f"{'executor':<22}{'replay s':>10}{'units/s':>10}{'live s':>10}{'units/s':>10}"
          f"{'no-op ms/unit':>15}{'driver CPU ms/unit':>20}")
    for label, r in replay.items():
        lv, o = live[label], overhead[label]
        print(f"{label:<22}{r[0]:>10.2f}{r[2] / r[0]:>10.0f}{lv[0]:>10.2f}{lv[2] / lv[0]:>10.0f}"
              f"{1000 * o[0] / o[2]:>15.3f}{1000 * o[1] / o[2]:>20.3f}")
    fork, ray_local = replay["--workers 2"][0], replay["Ray local (2 CPUs)"][0]
    print(f"ratio Ray local / --workers 2 (replay): {ray_local / fork:.2f}")

    projection(replay["Ray 2-node cluster"], overhead["Ray 2-node cluster"], suite, args.n)


def projection(replayed: tuple[float, float, int], noop: tuple[float, float, int], suite: Any, n: int) -> None:
    """A 1M-unit suite on 10 nodes, from what was measured here (see docs/ray.md)."""
    wall, driver_cpu, rows = replayed
    per_cpu = rows / wall / 2  # two one-CPU nodes here
    driver_cpu_per_unit = driver_cpu / rows
    driver_limit = 1 / driver_cpu_per_unit
    tracemalloc.start()
    run = _Run(suite, RunOptions(limit=n))
    items = run.work(run.dataset.tasks(), set())
    pending_bytes = tracemalloc.get_traced_memory()[0] / len(items)
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    units = 1_000_000
    for cpus in (8, 32):
        cluster = 10 * cpus * per_cpu
        rate = min(cluster, driver_limit)
        print(f"1M units on 10 nodes x {cpus} CPUs: workers {cluster:,.0f} units/s, driver absorbs "
              f"{driver_limit:,.0f} units/s (its CPU per unit, replay: {1000 * driver_cpu_per_unit:.3f} ms) "
              f"-> {units / rate / 60:.1f} min, bound by the {'driver' if driver_limit < cluster else 'workers'}")
    print(f"units per second per CPU (replay, 2-node cluster): {per_cpu:.0f}; driver write rate: "
          f"{driver_limit:,.0f} rows/s; driver memory per pending unit: {pending_bytes:.0f} B "
          f"-> {pending_bytes * units / 2**20:.0f} MiB of pending units for 1M (peak RSS here: {rss_mb:.0f} MiB)")
    print(f"scheduling overhead per unit on Ray (no-op flow): {1000 * noop[0] / noop[2]:.3f} ms wall, "
          f"{1000 * noop[1] / noop[2]:.3f} ms driver CPU")


if __name__ == "__main__":
    main()

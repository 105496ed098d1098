"""What each start-up speed-up buys: every one turned off alone, against all of them on.

Two user-visible times, each from process start to exit of a fresh ``harness run`` (the garbage collector's two,
``gc_freeze`` and ``gc_sparse``, act on the run and on its report; the others on start-up):

* **e2e**: ``bench/replay_e2e.py``'s 4,000-task suite replayed with ``--workers 2`` and its full
  report (goal: <= 6 s on 2 cores);
* **small**: ``bench/cli_start.py``'s 20-task suite replayed with its report, where start-up is
  most of the wait.

Both suites are recorded once against the stub server. Then, ``--repeat`` rounds, each round
running every configuration once, interleaved, so that a change in the machine's load hits
them all alike: all speed-ups on, then each one off alone (``HARNESS_SPEEDUPS_OFF``). The read
prefetch only acts on a cold page cache, so it is measured cold (root, Linux), against an
all-on cold baseline. Prints median wall and CPU seconds per configuration and what turning
it off costs: ``off/on`` ratios above 1.10 mean the speed-up buys at least 10 %.

    python bench/speedups.py [--repeat 3] [--n 4000] [--no-cold]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cli_start import SUITE as SMALL_SUITE
from replay_e2e import SUITE as E2E_SUITE
from replay_e2e import harness

from harness.testing.stub_server import StubProcess

WARM = ("prefork", "sdk_hook", "gc_freeze", "gc_sparse")


def project(suite: str, name: str, n: int) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-speedups-{name}-"))
    (folder / "test_e2e.py").write_text(suite)
    (folder / "tasks.jsonl").write_text("".join(json.dumps({"id": f"t{i:05d}", "input": f"question {i}"}) + "\n"
                                                for i in range(n)))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000, help="tasks in the e2e suite")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache prefetch measurement")
    args = parser.parse_args()
    e2e, small = project(E2E_SUITE, "e2e", args.n), project(SMALL_SUITE, "small", 20)
    with StubProcess(nonce=True) as stub:
        for folder in (e2e, small):
            harness(folder, "--record-mode", "once", "--base-url", stub.base_url, "--concurrency", "64", "--no-report")
    replay = ("--record-mode", "none", "--concurrency", "64")
    configs: list[tuple[str, Path, tuple[str, ...], bool]] = [("e2e", e2e, (), False), ("small", small, (), False)]
    configs += [(where, folder, (off,), False) for off in WARM for where, folder in (("e2e", e2e), ("small", small))]
    if not args.no_cold:
        configs += [("e2e cold", e2e, (), True), ("e2e cold", e2e, ("prefetch",), True)]
    times: dict[tuple[str, tuple[str, ...]], list[tuple[float, float]]] = {}
    for _ in range(args.repeat):
        for where, folder, off, cold in configs:
            workers = ("--workers", "2") if where.startswith("e2e") else ()
            times.setdefault((where, off), []).append(harness(folder, *replay, *workers, cold=cold, off=off))
    print(f"{'configuration':<32} {'wall (median)':>14} {'CPU (median)':>13} {'off/on wall':>12} {'off/on CPU':>11}")
    for (where, off), runs in times.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        base = times[(where, ())]
        base_wall, base_cpu = statistics.median(w for w, _ in base), statistics.median(c for _, c in base)
        label = f"{where}: {'all on' if not off else off[0] + ' off'}"
        print(f"{label:<32} {wall:>13.2f}s {cpu:>12.2f}s {wall / base_wall:>12.2f} {cpu / base_cpu:>11.2f}")


if __name__ == "__main__":
    main()

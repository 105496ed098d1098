"""Analysis cost at executor scale: gate, report and the viewer's first summary against parsing the run.

Writes synthetic run folders (two variants, 2 % task and grader errors, about 2.2 KB a row, with
a threshold gate and a no-regression gate) of 10,000, 100,000 and 1,000,000 rows in a temporary
folder (``--keep DIR`` reuses them), then, in the same sitting and each in a fresh process:

* ``json``: parse ``results.jsonl`` line by line with the standard ``json`` module (the yardstick);
* ``gate`` / ``report``: ``harness gate`` and ``harness report --no-show``, *cold* (no columnar
  sidecar yet: the first reader builds it) and *warm* (the sidecar is there, as after ``harness run``);
* ``view``: the viewer's first summary of the run (``Catalog.analysis``): cold (nothing cached),
  first (the sidecar there, as after ``harness run``, the summary not yet stored) and warm (stored);
* ``hash``: SHA-256 of the whole file, what a full-content cache key would cost on every read;
* ``merge`` (``--merge``): the largest run cut into 100 shards by task, then ``harness merge`` of them.

Each line prints wall seconds, the ratio to ``json``, the process's peak RSS and the cost per row;
at the end, the cost per row of each step at every size and its ratio largest / smallest. Goals (issue 25):
gate <= 1x, report <= 3x, view <= 1x the json parse at 100k and 1M rows; gate and report under
1 GB at 1M rows; per-row cost flat from 10k to 1M.

    python bench/analysis_scale.py [--sizes 10000 100000 1000000] [--keep DIR] [--only gate,view] [--merge]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic_runs import VariantSpec, make_run

from harness.core.gate_spec import Gate
from harness.core.results import RunFolder

VARIANTS = [VariantSpec("triage@v1", 0.8),
            VariantSpec("triage@v2", 0.79, task_error_rate=0.02, grader_error_rate=0.02)]
GATES = [Gate.metric("accuracy", ">=", 0.5), Gate.no_regression("accuracy", tolerance=0.05)]

JSON_PARSE = """
import json, sys
with open(sys.argv[1], encoding="utf-8") as handle:
    for line in handle:
        json.loads(line)
"""
FULL_HASH = """
import hashlib, sys
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as handle:
    while block := handle.read(1 << 24):
        digest.update(block)
"""
VIEW = """
import sys
from pathlib import Path
from harness.view.catalog import Catalog
run = Path(sys.argv[1])
out = Catalog(run.parent).analysis(run.name)
assert out["summary"] is not None, out
"""


def make(root: Path, rows: int) -> Path:
    run = root / f"rows-{rows}"
    if (run / "run.json").is_file():
        return run
    path = make_run(root, VARIANTS, n_tasks=rows // len(VARIANTS), run_id=f"rows-{rows}", seed=rows,
                    baseline_variant="triage@v1")
    folder = RunFolder(path)
    manifest = folder.manifest()
    folder.write_manifest(manifest.model_copy(update={"gates": [g.model_dump(mode="json") for g in GATES]}))
    return path


def shards(run: Path, count: int = 100) -> list[Path]:
    """``run`` cut into ``count`` shard folders by task (each task's rows, every variant, in one shard)."""
    root = run.parent / f"{run.name}-shards"
    paths = [root / f"shard-{i:03d}" for i in range(count)]
    if all((p / "run.json").is_file() for p in paths):
        return paths
    manifest = RunFolder(run).manifest()
    handles = []
    for i, path in enumerate(paths):
        path.mkdir(parents=True, exist_ok=True)
        RunFolder(path).write_manifest(manifest.model_copy(update={"run_id": f"shard-{i:03d}", "shard": f"{i + 1}/{count}"}))
        handles.append((path / "results.jsonl").open("w", encoding="utf-8"))
    with (run / "results.jsonl").open(encoding="utf-8") as source:
        for line in source:
            task = line.split('"task_id":"', 1)[1].split('"', 1)[0]  # rows the harness wrote; no parse needed
            handles[int(task.rsplit("-", 1)[-1]) % count].write(line)
    for handle in handles:
        handle.close()
    return paths


def timed(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit code) of one child process."""
    started = time.perf_counter()
    # cwd: not the checkout, whose harness/ would shadow the PYTHONPATH a comparison with other code
    # sets (`-m` and `-c` put the working directory first on sys.path)
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1) and child.stderr is not None:
        sys.stderr.write(child.stderr.read().decode()[-2000:])
    return wall, usage.ru_maxrss / 1024, code


def drop_cache(run: Path) -> None:
    shutil.rmtree(run / ".derived", ignore_errors=True)
    shutil.rmtree(run / "report", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="generate run folders here and reuse them")
    parser.add_argument("--only", default="gate,report,view,hash", help="which measurements (comma separated)")
    parser.add_argument("--merge", action="store_true", help="also merge the largest run cut into 100 shards")
    args = parser.parse_args()
    root = (args.keep or Path(tempfile.mkdtemp(prefix="bench-analysis-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    python = sys.executable
    harness = [python, "-m", "harness.cli"]
    per_row: dict[str, dict[int, float]] = {}
    for rows in args.sizes:
        started = time.perf_counter()
        run = make(root, rows)
        results = run / "results.jsonl"
        size = results.stat().st_size
        print(f"\n{rows:,} rows: results.jsonl {size / 1e6:.0f} MB ({size / rows / 1000:.2f} KB a row; "
              f"ready in {time.perf_counter() - started:.0f} s)", flush=True)
        base, base_rss, _ = timed([python, "-c", JSON_PARSE, str(results)])
        per_row.setdefault("json parse", {})[rows] = base / rows
        print(f"  json parse        {base:7.2f} s   1.00x  {base_rss:6.0f} MB   {base / rows * 1e6:6.1f} us/row",
              flush=True)
        steps: list[tuple[str, list[str]]] = []
        if "hash" in only:
            steps.append(("hash (whole file)", [python, "-c", FULL_HASH, str(results)]))
        for name, argv in (("gate", [*harness, "gate", str(run)]),
                           ("report", [*harness, "report", str(run), "--no-show"]),
                           ("view", [python, "-c", VIEW, str(run)])):
            if name in only:
                steps += [(f"{name} cold", ["drop", *argv]), (f"{name} warm", argv)]
                if name == "view":  # as after `harness run --no-report`: the sidecar is there, the viewer's summary not yet
                    steps.insert(-1, ("view first", ["unstore", *argv]))
            else:  # --only gate-warm,view-first: single steps (the sidecar is made by the first step that needs it)
                steps += [(f"{name} {kind}", prefix + argv) for kind, prefix in (("first", ["unstore"]), ("warm", []))
                          if f"{name}-{kind}" in only]
        for label, argv in steps:
            if argv[0] == "drop":
                drop_cache(run)
                argv = argv[1:]
            if argv[0] == "unstore":
                (run / ".derived" / "view.json").unlink(missing_ok=True)
                argv = argv[1:]
            wall, rss, code = timed(argv)
            per_row.setdefault(label, {})[rows] = wall / rows
            print(f"  {label:<17} {wall:7.2f} s  {wall / base:5.2f}x  {rss:6.0f} MB   {wall / rows * 1e6:6.1f} us/row"
                  f"   exit {code}", flush=True)
    if args.merge:
        run = make(root, max(args.sizes))
        parts = shards(run)
        out = root / "merged"
        shutil.rmtree(out, ignore_errors=True)
        base, _, _ = timed([python, "-c", JSON_PARSE, str(run / "results.jsonl")])
        wall, rss, code = timed([*harness, "merge", *map(str, parts), "--runs-dir", str(out), "--no-report"])
        print(f"\nmerge of {len(parts)} shards ({max(args.sizes):,} rows): {wall:.2f} s ({wall / base:.2f}x the json parse "
              f"of the same rows, {base:.2f} s), peak {rss:.0f} MB, exit {code}")
    if len(args.sizes) > 1:
        sizes = sorted(args.sizes)
        small, large = sizes[0], sizes[-1]
        print(f"\nper-row cost, us/row at {', '.join(f'{n:,}' for n in sizes)} rows; then {large:,} / {small:,} "
              "(flat = 1.0):")
        for label, costs in per_row.items():
            cells = "  ".join(f"{costs[n] * 1e6:7.1f}" if n in costs else "      -" for n in sizes)
            ratio = f"{costs[large] / costs[small]:.2f}" if small in costs and large in costs else "-"
            print(f"  {label:<17} {cells}   {ratio}")
    print(json.dumps({"peak_rss_mb_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()

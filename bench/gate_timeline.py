"""Where a cold ``harness gate``'s wall time goes: a timeline across the command and its sidecar helper.

Runs ``harness gate RUN`` once in a fresh process (its sidecar removed first unless ``--warm``)
with a probe that stamps, in every process the gate forks, the moments that matter: the process
start, named imports done, the helper's decode and sidecar write, the command's wait for the
helper, the columnar read, the analysis and the output, each with that process's CPU seconds and
minor page faults so far. The probe wraps functions after their modules are imported (an import
hook), so it changes no import order and nothing the gate does.

    python bench/gate_timeline.py RUN_FOLDER [--warm] [--repeat N]

Prints one line per stamp (wall seconds since the launch, process, CPU s, faults, what) and,
per process, its CPU seconds at exit; then the wall time. Read it beside
``bench/analysis_scale.py --only gate`` (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs inside the measured process, before `harness.cli` is imported.
PROBE = r'''
import functools, importlib.abc, importlib.machinery, inspect, os, resource, sys, time
_T0, _LOG = float(os.environ["TIMELINE_T0"]), os.environ["TIMELINE_LOG"]
def mark(what):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(_LOG, "a") as out:
        out.write(f"{time.time() - _T0:.4f}\t{os.getpid()}\t{usage.ru_utime + usage.ru_stime:.3f}\t"
                  f"{usage.ru_minflt}\t{what}\n")
mark("process start (probe)")
IMPORTS = {"numpy", "msgspec", "pyarrow", "pyarrow.parquet", "pandas", "scipy.special", "scipy.stats", "pydantic",
           "typer", "rich", "harness.cli.app", "harness.core.sidecar", "harness.analysis.run_data", "harness.gate",
           "harness.gate.evaluate"}
WRAP = {
    "harness.cli.reading": ["_refresh_sidecars", "_columns_ready", "_render_gates"],
    "harness.cli.app": ["_render_gates"],
    "harness.prefork": ["Prefork.start", "Prefork.wait", "_serve"],
    "harness.core.sidecar": ["read_columns", "_write", "_read", "fingerprint", "_covered", "_meta"],
    "harness.core.columns": ["decode_file"],
    "harness.analysis.run_data": ["load_run_data", "RunData.attempts"],
    "harness.gate.evaluate": ["evaluate_gates", "run_status", "release_checks", "_evaluate_metric"],
    "harness.columns_handoff": ["send_table", "receive_table"],
}
def _wrap(name, fn):
    if isinstance(fn, property) or hasattr(fn, "func") and hasattr(fn, "attrname"):
        return fn
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*a, **k):
            mark(f"> {name}")
            n = 0
            for item in fn(*a, **k):
                n += 1
                yield item
            mark(f"< {name} ({n} items)")
        return gen
    if inspect.iscoroutinefunction(fn) or not callable(fn):
        return fn
    @functools.wraps(fn)
    def call(*a, **k):
        mark(f"> {name}")
        try:
            return fn(*a, **k)
        finally:
            mark(f"< {name}")
    return call
def _patch(module):
    for dotted in WRAP.get(module.__name__, ()):
        owner, _, attr = dotted.rpartition(".")
        target = getattr(module, owner) if owner else module
        raw = target.__dict__.get(attr) if owner else getattr(module, attr, None)
        if raw is None:
            continue
        if isinstance(raw, classmethod):
            setattr(target, attr, classmethod(_wrap(dotted, raw.__func__)))
        elif isinstance(raw, functools.cached_property):
            raw.func = _wrap(dotted, raw.func)
        else:
            setattr(target, attr, _wrap(dotted, raw))
class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner
    def create_module(self, spec):
        return self.inner.create_module(spec)
    def exec_module(self, module):
        self.inner.exec_module(module)
        _patch(module)
        if module.__name__ in IMPORTS:
            mark(f"imported {module.__name__}")
    def __getattr__(self, name):
        return getattr(self.inner, name)
class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in IMPORTS and name not in WRAP:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None
sys.meta_path.insert(0, _Finder())
import atexit
atexit.register(lambda: mark("exit"))  # registered first, so it runs last of the exit handlers
_fork_parent = os.getpid()
os.register_at_fork(after_in_child=lambda: mark("forked"))
sys.argv[0] = "harness"
import runpy
runpy.run_module("harness.cli", run_name="__main__")
'''


def run_once(run: Path, warm: bool) -> float:
    if not warm:
        shutil.rmtree(run / ".derived", ignore_errors=True)
    log = Path(tempfile.mkstemp(prefix="gate-timeline-", suffix=".tsv")[1])
    env = {**os.environ, "TIMELINE_LOG": str(log)}
    env["TIMELINE_T0"] = repr(time.time())
    started = time.perf_counter()
    # cwd: not the checkout, whose harness/ would shadow the PYTHONPATH a comparison sets (`-c` puts
    # the working directory first on sys.path)
    child = subprocess.Popen([sys.executable, "-c", PROBE, "gate", str(run.resolve())], env=env,
                             stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    log.unlink()
    names: dict[str, str] = {}
    last: dict[str, tuple[float, float]] = {}  # process -> (wall, CPU) at its last stamp
    waited = 0.0
    for stamp, pid, cpu, faults, what in sorted(lines, key=lambda item: float(item[0])):
        who = names.setdefault(pid, "command" if not names else f"helper{len(names)}")
        print(f"  {float(stamp):7.3f} s  {who:<8} cpu {float(cpu):6.3f}  faults {int(faults):7d}  {what}")
        waited += float(stamp) * {"> Prefork.wait": -1, "< Prefork.wait": 1}.get(what, 0)
        last[who] = (float(stamp), float(cpu))
    print("  " + "; ".join(f"{who}: {cpu:.2f} s CPU by {at:.2f} s" for who, (at, cpu) in last.items())
          + f"; the command waited {waited:.2f} s for the helper; {wall - last['command'][0]:.3f} s from the "
          "command's last exit handler to its end")
    print(f"wall {wall:.3f} s, exit {os.waitstatus_to_exitcode(status)}; command CPU {usage.ru_utime:.2f} user + "
          f"{usage.ru_stime:.2f} sys (helpers included once reaped), peak RSS {usage.ru_maxrss / 1024:.0f} MB; "
          f"load {os.getloadavg()[0]:.2f}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--warm", action="store_true", help="keep the sidecar (a warm gate)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.repeat):
        run_once(args.run, args.warm)


if __name__ == "__main__":
    main()

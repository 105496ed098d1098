"""CPU seconds the CLI takes to start: ``harness --help``, ``harness view --help`` and ``harness view``.

Each command runs as a fresh process (the console script in this interpreter's environment),
``--repeat`` times; the figure is the median of user + system CPU of the process (and its
children), so a busy machine's waiting does not count. ``harness view`` is timed until its port
accepts a connection (the server is up), then stopped. Goal: each under 0.5 s of CPU.

Last line: ``help_cpu_s=<harness --help median>``.

    python bench/cli_start.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

GOAL_S = 0.5
HARNESS = str(Path(sys.executable).with_name("harness"))


def _cpu(times: psutil._common.pcputimes) -> float:  # type: ignore[name-defined]
    return float(times.user + times.system + times.children_user + times.children_system)


def run_to_exit(args: list[str]) -> float:
    """CPU seconds of a command that runs to its end."""
    before = os.times()
    subprocess.run([HARNESS, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def view_until_listening(runs: Path) -> float:
    """CPU seconds ``harness view`` takes until it accepts connections."""
    port = _port()
    process = psutil.Popen([HARNESS, "view", str(runs), "--port", str(port), "--no-browser"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                    return _cpu(process.cpu_times())
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("harness view exited before listening") from None
                time.sleep(0.005)
        raise RuntimeError("harness view did not listen within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (the median is reported)")
    args = parser.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    run_to_exit(["--help"])  # warm the OS page cache once, as any second start would be
    results = {
        "harness --help": [run_to_exit(["--help"]) for _ in range(args.repeat)],
        "harness view --help": [run_to_exit(["view", "--help"]) for _ in range(args.repeat)],
        "harness view (until listening)": [view_until_listening(runs) for _ in range(args.repeat)],
    }
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:<32} {median:.3f} s CPU (median of {len(samples)}; min {min(samples):.3f}) "
              f"{'ok' if median < GOAL_S else 'OVER the 0.5 s goal'}")
    print(f"help_cpu_s={statistics.median(results['harness --help']):.3f}")


if __name__ == "__main__":
    main()

"""What production capture costs the app: added CPU per model call, and added latency.

An app makes model calls with the real ``openai`` client against the stub server (its own
process, so its CPU is not counted here), each call in its own Agents SDK trace, in rounds that
alternate between no capture and ``harness.capture.install`` (so a busy machine slows both
alike). Printed per call:

* the bare client's CPU (everything in this process with SDK tracing on and nothing installed);
* the CPU capture adds *in the app's request path* (this thread: the transport, keys, the model
  span, the tap), and in the writer thread (scrubbing, JSON, the file), and their sum;
* the wall-clock latency of a call with and without capture.

Goal (issue 26): added CPU <= 0.1 ms per call and under 5% of the bare client's cost; no added
latency. Last line: ``added_ms_per_call=<total> ratio=<total / bare>``.

    python bench/capture_overhead.py [--calls 300] [--rounds 6] [--per-trace 1]   # 0: plain calls, no SDK

Instructions (load-independent): ``--arm bare|capture`` runs one arm once (no pieces, no warm-up
rounds) for ``valgrind --tool=callgrind --separate-threads=yes``; the difference between a run of
``N`` and one of ``3N`` calls, over ``2N``, is the arm's instructions per call, per thread::

    valgrind --tool=callgrind --separate-threads=yes python bench/capture_overhead.py --arm capture --calls 100

``--arm writer`` isolates the writer's work: it captures ``--calls`` traces with the writer held,
then writes them all in this thread, timed (thread CPU per trace); under valgrind
(``--instr-atstart=no``) it switches callgrind's instrumentation on around the writing only, so the
run's total is the writer's instructions for that many traces::

    valgrind --tool=callgrind --instr-atstart=no python bench/capture_overhead.py --arm writer --calls 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx2
from agents import trace
from agents.tracing import set_trace_processors
from openai import AsyncOpenAI

import harness.capture
from harness.capture.interception import Capture
from harness.testing.stub_server import StubProcess


async def calls(base_url: str, n: int, per_trace: int = 1) -> tuple[float, float, float]:
    """Process CPU, this thread's CPU and wall seconds for ``n`` calls, ``per_trace`` in each SDK
    trace (0: plain calls outside any trace, each captured as a trace of its own)."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench-not-a-secret-000000")
    messages = [{"role": "system", "content": "You answer support tickets. " * 20},
                {"role": "user", "content": "Where is my order A1001? It was due on Monday."}]
    await client.chat.completions.create(model="stub", messages=messages)  # connection and imports warm
    cpu0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    if per_trace == 0:
        for _ in range(n):
            await client.chat.completions.create(model="stub", messages=messages)
    else:
        for _ in range(n // per_trace):
            with trace("bench"):
                for _ in range(per_trace):
                    await client.chat.completions.create(model="stub", messages=messages)
    wall, thread = time.perf_counter() - wall0, time.thread_time() - thread0
    await client.close()
    return time.process_time() - cpu0, thread, wall


def measure(base_url: str, n: int, capture: Path | None, per_trace: int = 1) -> tuple[float, float, float]:
    if capture is not None:
        harness.capture.install(capture)
    try:
        cpu, thread, wall = asyncio.run(calls(base_url, n, per_trace))
        if capture is not None:
            flushed0 = time.process_time()
            assert harness.capture.flush(60), "the writer did not finish"
            cpu += time.process_time() - flushed0  # what the writer still had to do is capture's cost too
            # one trace per `per_trace` calls, and the warm-up call (a plain call outside any trace is one)
            traces = n // per_trace if per_trace else n
            assert harness.capture.stats().written == traces + 1 and harness.capture.stats().dropped == 0
    finally:
        harness.capture.uninstall()
    return cpu, thread, wall


async def _empty_traces(n: int) -> float:
    started = time.thread_time()
    for _ in range(n):
        with trace("bench"):
            pass
    return (time.thread_time() - started) / n * 1e6


def _span_pieces(n: int, reply: bytes, per_trace: int = 4) -> tuple[float, float]:
    """Microseconds per call: what capture does in the request path (observe the request, key it,
    place its model span, keep the reply), and describing the span (since trace format 2 done when
    the trace is read, not in the app's process)."""
    body = json.dumps({"model": "stub", "messages": [{"role": "user", "content": "Where is my order? " * 20}]})
    response = httpx2.Response(200, headers={"content-type": "application/json"}, content=reply)
    capture = Capture(1.0, finished=lambda opened: None, sampled_out=lambda: None)
    in_path = described = 0.0
    for trace_number in range(n // per_trace):
        requests = [httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions", content=body.encode(),
                                   headers={"content-type": "application/json"}) for _ in range(per_trace)]
        opened = capture.open(f"trace_{trace_number:032x}", "bench")
        assert opened is not None
        started = time.thread_time()
        for request in requests:
            call = capture.observe(request)
            assert call is not None
            call.answered(response, reply, None)
        in_path += time.thread_time() - started
        capture.close(opened)
        started = time.thread_time()
        for exchange in opened.exchanges:
            assert exchange.writer is not None and exchange.span is not None
            exchange.writer.fill(exchange.span, 200, "application/json", reply)
        described += time.thread_time() - started
    return in_path / n * 1e6, described / n * 1e6


def parts(tmp: Path, n: int = 3000) -> None:
    """The pieces alone, without network or server: microseconds each."""
    reply = json.dumps({"id": "c", "object": "chat.completion", "model": "stub", "usage": {
        "prompt_tokens": 100, "completion_tokens": 50}, "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "Your order shipped. " * 10}}]}).encode()
    bare_trace = asyncio.run(_empty_traces(n))
    harness.capture.install(tmp / "parts", queue_size=n + 10)
    try:
        captured_trace = asyncio.run(_empty_traces(n))
    finally:
        harness.capture.uninstall()
    in_path, described = _span_pieces(n, reply)
    print(f"pieces (us): trace start+end {captured_trace - bare_trace:.1f} per trace; per call, keying and "
          f"placing the model span, keeping the reply {in_path:.1f} (request path); describing it {described:.1f} "
          "(on read, not in the app)")


def _callgrind(state: str) -> None:
    """Switch callgrind's instrumentation on or off for this process (nothing when not under valgrind)."""
    if shutil.which("callgrind_control"):
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True, check=False)
        time.sleep(0.5)  # callgrind polls for the command


def writer_only(base_url: str, n: int, folder: Path) -> float:
    """Thread CPU microseconds the writer spends per trace: ``n`` traces captured with the writer
    held (it wakes once an hour), then written here, with callgrind's instrumentation on around it."""
    from harness.capture import production

    harness.capture.install(folder, queue_size=n + 10)
    writer = production._state["current"].writer
    writer.interval_s = 3600.0
    time.sleep(0.6)  # the writer's current wait ends; the next is an hour
    try:
        asyncio.run(calls(base_url, n + 3))
        items = list(writer._pending)
        writer._pending.clear()
        for item in items[:4]:  # the warm-up call's trace and three more: imports, first file
            writer._write(item)
        _callgrind("on")
        started = time.thread_time()
        for item in items[4:]:
            writer._write(item)
        spent = time.thread_time() - started
        _callgrind("off")
    finally:
        harness.capture.uninstall()
    return spent / (len(items) - 4) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-trace", type=int, default=1, help="model calls per SDK trace (an agent run makes "
                        "several); 0: plain calls outside any trace, each a trace of its own")
    parser.add_argument("--arm", choices=["bare", "capture", "writer"],
                        help="run this arm once only (under callgrind)")
    args = parser.parse_args()
    logging.getLogger("openai.agents").setLevel(logging.ERROR)
    set_trace_processors([])  # the SDK's exporter off: this measures capture, not the upload to OpenAI
    if args.arm == "writer":
        with StubProcess() as stub, tempfile.TemporaryDirectory() as tmp:
            print(f"arm=writer traces={args.calls} us_per_trace={writer_only(stub.base_url, args.calls, Path(tmp)):.1f}")
        return
    if args.arm:
        with StubProcess() as stub, tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "arm" if args.arm == "capture" else None
            cpu, _, _ = measure(stub.base_url, args.calls, folder, args.per_trace)
        print(f"arm={args.arm} calls={args.calls} cpu_ms_per_call={cpu / args.calls * 1000:.3f}")
        return
    bare: list[tuple[float, float, float]] = []
    captured: list[tuple[float, float, float]] = []
    with StubProcess() as stub, tempfile.TemporaryDirectory() as tmp:
        parts(Path(tmp))
        measure(stub.base_url, 20, None)  # warm both paths once
        measure(stub.base_url, 20, Path(tmp) / "warm")
        for round_ in range(args.rounds):
            bare.append(measure(stub.base_url, args.calls, None, args.per_trace))
            captured.append(measure(stub.base_url, args.calls, Path(tmp) / f"r{round_}", args.per_trace))

    def per_call(samples: list[tuple[float, float, float]], index: int) -> float:
        return statistics.median(s[index] for s in samples) / args.calls * 1000

    cpu_bare, cpu_cap = per_call(bare, 0), per_call(captured, 0)
    path_bare, path_cap = per_call(bare, 1), per_call(captured, 1)
    wall_bare, wall_cap = per_call(bare, 2), per_call(captured, 2)
    added, in_path = cpu_cap - cpu_bare, path_cap - path_bare
    print(f"{args.calls} calls ({args.per_trace} per trace) x {args.rounds} rounds, medians per call (ms):")
    print(f"  bare client CPU                {cpu_bare:7.3f}")
    print(f"  capture: added CPU, request path {in_path:7.3f}")
    print(f"  capture: added CPU, writer       {added - in_path:7.3f}")
    print(f"  capture: added CPU, total        {added:7.3f}   ({added / cpu_bare:.1%} of the bare client)")
    print(f"  latency: bare {wall_bare:.3f}, with capture {wall_cap:.3f} (added {wall_cap - wall_bare:+.3f})")
    print(f"added_ms_per_call={added:.3f} ratio={added / cpu_bare:.3f}")


if __name__ == "__main__":
    main()

"""A real two-node Ray cluster on 127.0.0.1, shared by the module's tests (starting one costs seconds).

The head node and one worker node have one CPU each, so a run spreads its Ray workers over
both. This test process is the driver, as ``harness run`` is.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Read when ray is imported: without it Ray rewrites 127.0.0.1 to this machine's outward IP.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray
from ray.cluster_utils import Cluster

LOOPBACK = {"node_ip_address": "127.0.0.1", "object_store_memory": 80 * 1024 * 1024}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    cluster = _start_cluster()
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def _start_cluster(attempts: int = 2) -> Any:
    """Head and one worker node. Ray gives a node 30 s to register, which a machine busy with other
    work can miss; then the half-started cluster is stopped and started once more."""
    for attempt in range(1, attempts + 1):
        cluster = Cluster(shutdown_at_exit=True)
        try:
            cluster.add_node(num_cpus=1, include_dashboard=False, **LOOPBACK)
            cluster.add_node(num_cpus=1, **LOOPBACK)
            cluster.wait_for_nodes()
            return cluster
        except Exception:
            cluster.shutdown()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


@pytest.fixture
def add_ray_node(ray_cluster: Any) -> Any:
    """Adds one more one-CPU worker node to the cluster (for a test that kills it)."""
    def add() -> Any:
        node = ray_cluster.add_node(num_cpus=1, **LOOPBACK)
        ray_cluster.wait_for_nodes()
        return node
    return add


@pytest.fixture
def lose_node(ray_cluster: Any) -> Any:
    """Loses a node as a machine is lost: its raylet and every process it started die at once.

    ``Cluster.remove_node`` kills the raylet only. A Ray worker already running a batch on that
    node keeps its direct connection to the driver and can still hand the batch back, which a
    machine that went away could not do.
    """
    def lose(node: Any) -> None:
        raylet = node.all_processes["raylet"][0].process.pid
        started = _descendants(raylet)
        ray_cluster.remove_node(node, allow_graceful=False)
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return lose


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (Linux, as the tests' machines are)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone since the listing
        parent = int(text.rsplit(")", 1)[1].split()[1])  # after "(comm)": state, then ppid
        parents.setdefault(parent, []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found += children
        queue += children
    return found

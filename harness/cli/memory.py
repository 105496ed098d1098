"""Allocator settings for the commands that read a whole run at once (report, compare, gate).

The analysis of a 1M-row run allocates and frees some two gigabytes of temporaries in arrays of
megabytes. Two allocators kept most of what was freed, so the process's RSS stayed near its
high-water mark while later phases stacked on it: ``harness report`` of bench/analysis_scale.py's 1M-row
run peaked at 1,121-1,129 MiB without the settings below and at 880-884 MiB with them, for 1.4-1.8 s
more system CPU (pages of fresh mappings; 17.4 s of CPU without), and no measurable change at 100k
rows (5.5 s of CPU either way):

* Arrow's default pool (mimalloc) keeps freed pages for reuse: Arrow's buffers go to the system
  allocator instead, where a freed large buffer is unmapped at once;
* glibc serves blocks from 128 KiB up with their own mapping, unmapped when freed, but after the
  first such free it raises that threshold (up to 32 MB) and serves later arrays from its heap,
  which it cannot hand back while anything lives above them: the threshold is pinned at its
  starting 128 KiB.

Settings of this process alone, made by the command, never by the library: a program that imports
:mod:`harness` keeps its own allocators.
"""

from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["return_freed_memory"]

log = logging.getLogger(__name__)

#: ``mallopt``'s parameter number for the mmap threshold (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3
#: glibc's starting threshold; pinning it also stops glibc raising its trim threshold
_MMAP_THRESHOLD = 128 * 1024


def return_freed_memory() -> None:
    """Let this process hand freed memory back to the system (see the module doc); where glibc or
    Arrow's system pool is missing, that part is left as it is."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only: musl has no mallopt threshold to pin)
        if not libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD):
            log.debug("mallopt(M_MMAP_THRESHOLD) refused")
    except (OSError, AttributeError) as exc:
        log.debug("allocator settings left as they are: %s", exc)

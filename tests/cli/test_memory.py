"""The commands that read a whole run hand freed memory back to the system; the library leaves it alone."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import pyarrow as pa
fresh = pa.default_memory_pool().backend_name
import harness.analysis.run_data, harness.report.writer
imported = pa.default_memory_pool().backend_name
from harness.cli.memory import return_freed_memory
return_freed_memory()
print(fresh, imported, pa.default_memory_pool().backend_name)
"""


def test_report_commands_put_arrow_on_the_system_allocator_and_importing_the_library_does_not() -> None:
    fresh, imported, after = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                                            check=True).stdout.split()
    assert imported == fresh
    assert after == "system"

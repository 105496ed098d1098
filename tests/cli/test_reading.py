"""The sidecar helper of the reading commands (harness/cli/reading.py): what it builds is what a reader builds.

`harness gate` and `harness report` on a run without its columnar sidecar fork a helper that
builds it beside their imports (:func:`harness.cli.reading._columns_ready`). These tests run
that helper for real (a fork, in a fresh interpreter as the console script has it) and hold its
sidecar to the rows decoded in this process without any cache.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from synthetic_runs import VariantSpec

from harness.core.sidecar import read_columns, sidecar_path

#: The helper as `harness gate` starts it, then asked (a call into the helper) whether it loaded pandas.
HELPER = """
import functools, sys
from pathlib import Path
from harness.cli.reading import _refresh_sidecars
from harness.prefork import Prefork

def pandas_loaded():
    return "pandas" in sys.modules

helper = Prefork.start(functools.partial(_refresh_sidecars, [Path(sys.argv[1])]))
print(helper.call(pandas_loaded))
"""


def test_the_helper_builds_the_sidecar_a_reader_would_without_loading_pandas(
        make_run_folder: Callable[..., Path]) -> None:
    """pyarrow would import pandas on its first array only to ask whether the input is a pandas
    object; the helper never uses pandas, so it is kept out (a cold gate's critical path)."""
    run = make_run_folder([VariantSpec("triage@v1", 0.8),
                           VariantSpec("triage@v2", 0.7, task_error_rate=0.1, grader_error_rate=0.1)],
                          n_tasks=30, epochs=2, seed=3)
    with (run / "results.jsonl").open("ab") as handle:
        handle.write(b'{"not": "a row"}\n')  # damage travels in the sidecar too
    done = subprocess.run([sys.executable, "-c", HELPER, str(run)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "the helper imported pandas"
    assert sidecar_path(run).is_file()
    cached, fresh = read_columns(run), read_columns(run, cache=False)
    assert cached.cache == "hit", "the helper's sidecar is read as it is"
    assert cached.table.equals(fresh.table)
    assert cached.table.num_rows == 120
    assert [(d.line, d.reason, d.torn_tail) for d in cached.damage] == [
        (d.line, d.reason, d.torn_tail) for d in fresh.damage] != []

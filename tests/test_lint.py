"""The code base stays ruff-clean: the rules and ignores are in pyproject.toml's [tool.ruff]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_passes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "harness", "tests", "bench"],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, f"ruff check failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"

"""The library type-checks: mypy, strict, on harness/ (settings and per-module relaxations in pyproject.toml's
[tool.mypy], each with its reason). Run `mypy` before pushing; this test runs the same command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_mypy_passes_on_the_library() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(REPO_ROOT / ".mypy_cache")],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, f"mypy failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"

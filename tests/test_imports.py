"""Importing the product needs only its declared dependencies: no dev, testing or local extra.

A fresh interpreter refuses every import of a package that only an extra provides, then imports
every public name and every module of ``harness`` except the few that belong to an extra.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Modules that are the extras themselves: their dependencies are declared there.
EXTRA_MODULES = {"harness.testing.stub_server": "the testing extra", "harness.testing.stub_app": "the testing extra",
                 "harness.testing.fixtures": "pytest, which loads it", "harness.pytest_plugin": "pytest"}
#: Distribution name -> import name, where they differ.
IMPORT_NAMES = {"pytest-xdist": "xdist", "llama-cpp-python": "llama_cpp"}


def _extra_only_imports() -> set[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_dist(r) for r in project["dependencies"]}
    extra = {_dist(r) for reqs in project["optional-dependencies"].values() for r in reqs} - core
    return {IMPORT_NAMES.get(d, d.replace("-", "_")) for d in extra if d != "orchestration-harness"}


def _dist(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "[<>=!~ ":
        name = name.split(stop)[0]
    return name.strip().lower()


PROBE = r"""
import importlib, importlib.abc, pkgutil, sys
blocked = set(sys.argv[1].split(","))
skip = set(sys.argv[2].split(",")) if sys.argv[2] else set()

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} comes from an extra, not from the product's dependencies")
        return None

sys.meta_path.insert(0, Refuse())
import harness
for name in harness.__all__:
    getattr(harness, name)
for info in pkgutil.walk_packages(harness.__path__, "harness."):
    if info.name.endswith(".__main__"):  # a program: importing it runs it
        continue
    if not any(info.name == s or info.name.startswith(s + ".") for s in skip):
        importlib.import_module(info.name)
print("ok")
"""


def test_the_product_imports_without_any_extra() -> None:
    blocked = _extra_only_imports()
    assert {"aiohttp", "selenium", "xdist", "llama_cpp", "pytest"} <= blocked
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(sorted(blocked)), ",".join(EXTRA_MODULES)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_the_stub_server_names_its_extra_when_aiohttp_is_missing() -> None:
    probe = PROBE.split("import harness")[0] + "import harness.testing.stub_server\n"
    done = subprocess.run([sys.executable, "-c", probe, "aiohttp", ""], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "orchestration-harness[testing]" in done.stderr

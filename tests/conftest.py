"""Shared fixtures: the stub model server and a small suite factory.

Tests talk to a real HTTP server on 127.0.0.1 through the real ``openai`` client; nothing here
mocks the client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from synthetic_runs import VariantSpec, make_run

from harness.engine.runner import RunOptions, RunResult, run_suite
from harness.engine.runtime import RuntimeConfig
from harness.engine.suite import ModelSettings, Suite, Variant
from harness.testing.stub_server import StubServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A deterministic stub model server, fresh per test."""
    with StubServer() as server:
        yield server


@pytest.fixture
def nonce_stub() -> Iterator[StubServer]:
    """A stub whose every reply carries a random nonce: identical requests get different replies."""
    with StubServer(nonce=True) as server:
        yield server


def write_dataset(path: Path, n: int, prefix: str = "t") -> Path:
    path.write_text("".join(json.dumps({"id": f"{prefix}{i:03d}", "input": f"question {i}",
                                        "expected": f"answer {i}", "tags": ["dev" if i % 2 else "test"]}) + "\n"
                            for i in range(n)))
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Callable[[int], Path]:
    return lambda n=6: write_dataset(tmp_path / "tasks.jsonl", n)


async def ask(input: Any, ctx: Any) -> str:
    """The simplest flow: one chat completion."""
    reply = await ctx.client.chat.completions.create(
        messages=[{"role": "user", "content": str(input)}], **ctx.model_kwargs())
    return reply.choices[0].message.content


@pytest.fixture
def make_suite(tmp_path: Path, dataset: Callable[[int], Path]) -> Callable[..., Suite]:
    def build(flow: Any = ask, n: int = 6, name: str = "demo", variants: list[str] | None = None,
              **kwargs: Any) -> Suite:
        path = dataset(n)
        names = variants or ["ask@v1"]
        return Suite(name=name, dataset=path, root=tmp_path,
                     variants=[Variant(v, flow=flow, model=ModelSettings(model="stub")) for v in names], **kwargs)
    return build


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., RunResult]:
    """Run a suite synchronously with run folder and cassettes under tmp_path."""
    def go(suite: Suite, base_url: str | None = None, record_mode: str = "off", **options: Any) -> RunResult:
        runtime = RuntimeConfig(base_url=base_url or "http://127.0.0.1:9/v1", api_key=options.pop("api_key", None),
                                cassette_dir=tmp_path / "cassettes", max_retries=options.pop("max_retries", 2))
        opts = RunOptions(record_mode=record_mode, runtime=runtime, runs_dir=tmp_path / "runs", **options)
        return asyncio.run(run_suite(suite, opts))
    return go


@pytest.fixture
def make_run_folder(tmp_path: Path) -> Callable[..., Path]:
    """``make_run_folder([VariantSpec(...)], n_tasks=..., epochs=...)`` -> a synthetic run folder."""
    counter = iter(range(10_000))

    def build(variants: list[VariantSpec], **options: Any) -> Path:
        options.setdefault("run_id", f"20250101T000000Z-triage-{next(counter):04x}")
        return make_run(tmp_path / "runs", variants, **options)

    return build


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's headless chromium through chromedriver (Selenium), one per session.

    Never skipped: a missing browser fails with the command that installs it, because a page
    nobody checked in a browser is a page nobody knows works.
    """
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"browser test needs {', '.join(missing)}: run "
                    "`apt-get update && apt-get install -y chromium chromium-driver`", pytrace=False)
    import shutil
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)

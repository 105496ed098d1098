"""Run folders store nothing tied to the machine that ran: relative paths, tracebacks without its layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.core.model_settings import ModelSettings
from harness.core.portable import portable_path, portable_traceback
from harness.core.prompts import PromptVersion
from harness.engine.suite import Variant

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_path_inside_the_project_is_stored_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datasets").mkdir()
    assert portable_path(tmp_path / "datasets" / "a.jsonl") == "datasets/a.jsonl"


def test_a_path_outside_the_project_and_a_non_path_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    assert portable_path(tmp_path / "elsewhere.jsonl") == str(tmp_path / "elsewhere.jsonl")
    assert portable_path("<inline>") == "<inline>"
    assert portable_path("datasets/a.jsonl") == "datasets/a.jsonl"


def test_a_variant_hashes_the_same_in_two_checkouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashes = []
    for checkout in ("one", "two"):
        prompt_dir = tmp_path / checkout / "prompts" / "triage" / "v1"
        prompt_dir.mkdir(parents=True)
        (prompt_dir / "system.md").write_text("Be brief.", encoding="utf-8")
        monkeypatch.chdir(tmp_path / checkout)
        variant = Variant("triage@v1", "triage", PromptVersion.load(prompt_dir))
        assert variant.settings()["prompt"]["source"] == "prompts/triage/v1"
        hashes.append(variant.settings_hash)
    assert hashes[0] == hashes[1]


def test_a_traceback_names_project_files_relatively_and_packages_by_site(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    try:
        json.loads("{")  # raises inside the standard library
    except ValueError as exc:
        text = portable_traceback(exc)
    assert 'File "tests/core/test_portable.py"' in text
    assert 'File "<python>/json/' in text
    assert str(REPO_ROOT) not in text

    try:
        ModelSettings(temperature="hot")  # type: ignore[arg-type]  # pydantic raises in site-packages
    except ValueError as exc:
        text = portable_traceback(exc)
    assert "<site-packages>/pydantic/" in text
    assert not re.search(r'File "/', text)


def test_committed_run_folders_hold_no_absolute_path() -> None:
    leaks = []
    for path in sorted((REPO_ROOT / "reports").rglob("*")):
        if path.suffix in {".json", ".jsonl", ".md", ".csv"} and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for found in re.findall(r'"(/(?:home|work|Users|tmp|root|var)/[^"]{0,60})', text):
                leaks.append(f"{path.relative_to(REPO_ROOT)}: {found}")
    assert not leaks, "absolute paths in committed files:\n" + "\n".join(leaks[:20])

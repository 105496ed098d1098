"""Provenance: the commit, the dirty flag and the package versions run.json records are the true ones."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.engine import provenance

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def test_package_versions_are_those_importlib_metadata_reports() -> None:
    found = provenance.packages()
    assert found, "the harness's own dependencies are installed"
    assert found == {name: importlib.metadata.version(name) for name in provenance.PACKAGES if name in found}
    for name in provenance.PACKAGES:
        if name not in found:
            with pytest.raises(importlib.metadata.PackageNotFoundError):
                importlib.metadata.version(name)


class _Metadata(importlib.metadata.Distribution):
    """A distribution whose metadata files are given as text."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files_text = files

    def read_text(self, filename: str) -> str | None:
        return self.files_text.get(filename)

    def locate_file(self, path: str | Path) -> Path:  # type: ignore[override]
        return Path(path)


def test_the_version_is_the_header_field_not_a_line_of_the_description() -> None:
    text = "Metadata-Version: 2.1\nName: probe\nVersion: 1.2.3\n\nVersion: 9.9.9 (in the long description)\n"
    assert provenance._version(_Metadata({"METADATA": text})) == "1.2.3"
    assert provenance._version(_Metadata({"PKG-INFO": text})) == "1.2.3"


def test_metadata_without_a_version_header_falls_back_to_the_full_parse() -> None:
    text = "Metadata-Version: 2.1\nName: probe\n\nVersion: 4.5.6\n"
    assert provenance._version(_Metadata({"METADATA": text})) == _Metadata({"METADATA": text}).version


@needs_git
def test_git_state_is_the_commit_and_dirty_flag_of_the_working_directory(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert provenance.git_state() == (None, None), "outside a repository: unknown, not clean"

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first")
    (tmp_path / "tracked.txt").write_text("one\n")
    git("add", "tracked.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "second")
    head = git("rev-parse", "HEAD")
    (tmp_path / "untracked.txt").write_text("not counted\n")
    assert provenance.git_state() == (head, False) == (provenance.git_commit(), provenance.git_dirty())
    (tmp_path / "tracked.txt").write_text("two\n")
    assert provenance.git_state() == (head, True) == (provenance.git_commit(), provenance.git_dirty())

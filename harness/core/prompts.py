"""Prompt versions: text files whose content hash travels with every score.

A prompt version is either one file (``evals/prompts/triage/v1.md``) or a folder of files, one
per agent (``agents/shopdesk/prompts/triage/v2/{triage,orders,refunds}.md``). Either way its
``sha256`` covers every byte, so a report can say which exact text produced which score, and
the cassette index can tell that a recording was made with an older prompt.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PromptVersion", "PromptError", "prompt_versions"]


class PromptError(LookupError):
    """A prompt version or one of its parts does not exist."""


@dataclass(frozen=True)
class PromptVersion:
    """One version of a prompt: named parts (``"main"`` for a single file) and their hash."""

    name: str
    version: str
    parts: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def load(cls, path: str | Path, name: str | None = None) -> PromptVersion:
        """Load ``…/<name>/<version>.md`` or ``…/<name>/<version>/`` (one file per part)."""
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not files:
                raise PromptError(f"prompt folder {path} holds no files")
            parts = {p.stem: p.read_text(encoding="utf-8") for p in files}
            version = path.name
        elif path.is_file():
            parts = {"main": path.read_text(encoding="utf-8")}
            version = path.stem
        else:
            raise PromptError(f"no prompt version at {path} (expected a file like v1.md or a folder v1/)")
        return cls(name=name or path.parent.name, version=version, parts=parts, source=str(path))

    @classmethod
    def inline(cls, name: str, version: str, text: str | Mapping[str, str]) -> PromptVersion:
        parts = {"main": text} if isinstance(text, str) else dict(text)
        return cls(name=name, version=version, parts=parts, source="<inline>")

    @property
    def text(self) -> str:
        """The single part's text (for one-file prompts)."""
        if "main" in self.parts:
            return self.parts["main"]
        if len(self.parts) == 1:
            return next(iter(self.parts.values()))
        raise PromptError(f"prompt {self.name}@{self.version} has parts {sorted(self.parts)}; use prompt['<part>']")

    def __getitem__(self, part: str) -> str:
        try:
            return self.parts[part]
        except KeyError:
            raise PromptError(
                f"prompt {self.name}@{self.version} has no part '{part}' (has: {', '.join(sorted(self.parts))})"
            ) from None

    def get(self, part: str, default: str | None = None) -> str | None:
        return self.parts.get(part, default)

    @functools.cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for key in sorted(self.parts):
            digest.update(key.encode())
            digest.update(b"\0")
            digest.update(self.parts[key].encode())
            digest.update(b"\0")
        return digest.hexdigest()

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def prompt_versions(folder: str | Path, name: str | None = None) -> dict[str, PromptVersion]:
    """Every version found in a prompt folder: ``{"v1": PromptVersion, "v2": ...}``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PromptError(f"no prompt folder at {folder}")
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        version = PromptVersion.load(entry, name=name or folder.name)
        found[version.version] = version
    return found

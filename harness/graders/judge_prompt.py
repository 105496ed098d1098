"""Judge prompts: versioned template files whose name, version and sha256 travel with every verdict.

Built-in prompts live in ``harness/graders/prompts/<kind>/<version>.md`` (``rubric/v1.md``,
``reference/v1.md``, ``pairwise/v1.md``); a judge may instead name any file of its own. A
template is Markdown with ``{{placeholders}}`` and two optional section markers::

    <!-- system -->
    You are an impartial evaluator…
    <!-- user -->
    ## Rubric
    {{rubric}}

Text under ``<!-- system -->`` is the system message, text under ``<!-- user -->`` the user
message (a file without markers is one user message). Placeholders are filled in one pass, so a
response that itself contains ``{{rubric}}`` is never expanded — outputs are data, not template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.grading import GraderConfigError
from harness.core.prompts import PromptError, PromptVersion

__all__ = ["JudgePrompt", "BUILTIN_PROMPTS", "builtin_versions", "render_value"]

#: Where the built-in judge prompts live.
BUILTIN_PROMPTS = Path(__file__).parent / "prompts"

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SECTION = re.compile(r"^\s*<!--\s*(system|user)\s*-->\s*$", re.MULTILINE)


def builtin_versions(kind: str) -> list[str]:
    """The versions shipped for a judge kind (``["v1"]``)."""
    folder = BUILTIN_PROMPTS / kind
    return sorted(p.stem for p in folder.glob("*.md")) if folder.is_dir() else []


@dataclass(frozen=True)
class JudgePrompt:
    """A loaded judge template: its version record, its sections and the placeholders it uses."""

    version: PromptVersion
    system: str | None
    user: str

    @classmethod
    def load(cls, spec: str | Path | PromptVersion | None, kind: str) -> JudgePrompt:
        """``None`` (the kind's ``v1``), a built-in version (``"v2"``, ``"rubric/v2"``), a file path,
        or a :class:`PromptVersion`. Unknown specs raise ``GraderConfigError`` listing what exists."""
        version = spec if isinstance(spec, PromptVersion) else cls._find(spec, kind)
        system, user = _sections(version.text)
        return cls(version=version, system=system, user=user)

    @staticmethod
    def _find(spec: str | Path | None, kind: str) -> PromptVersion:
        if spec is None:
            spec = "v1"
        elif Path(spec).is_file():
            return _load(Path(spec), None)
        name, _, version = str(spec).rpartition("/")
        builtin = BUILTIN_PROMPTS / (name or kind) / f"{version}.md"
        if not isinstance(spec, Path) and builtin.is_file():
            return _load(builtin, name or kind)
        shipped = ", ".join(builtin_versions(kind)) or "none"
        raise GraderConfigError(
            f"judge prompt {str(spec)!r} not found: it is neither a file nor a built-in {kind} prompt "
            f"(built-in {kind} versions: {shipped})")

    @property
    def placeholders(self) -> frozenset[str]:
        text = (self.system or "") + "\n" + self.user
        return frozenset(_PLACEHOLDER.findall(text))

    @property
    def label(self) -> str:
        return self.version.label

    @property
    def sha256(self) -> str:
        return self.version.sha256

    def record(self) -> dict[str, str]:
        """What a judge records in its params: ``prompt`` (name@version) and ``prompt_sha256``."""
        return {"prompt": self.label, "prompt_sha256": self.sha256}

    def check(self, provided: Iterable[str], required: Iterable[str]) -> None:
        """Fail at construction on a placeholder the judge cannot fill, or a required one that is absent."""
        provided, required = set(provided), set(required)
        unknown = self.placeholders - provided
        if unknown:
            raise GraderConfigError(
                f"judge prompt {self.label} ({self.version.source}) uses unknown placeholder(s) "
                f"{sorted(unknown)}; this judge fills {sorted(provided)}")
        missing = required - self.placeholders
        if missing:
            raise GraderConfigError(
                f"judge prompt {self.label} ({self.version.source}) lacks required placeholder(s) "
                + ", ".join("{{" + m + "}}" for m in sorted(missing)))

    def render(self, values: Mapping[str, str]) -> list[dict[str, str]]:
        """Chat messages with every placeholder filled (in one pass)."""

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)

        messages: list[dict[str, str]] = []
        if self.system:
            messages.append({"role": "system", "content": fill(self.system).strip()})
        messages.append({"role": "user", "content": fill(self.user).strip()})
        return messages


def _load(path: Path, name: str | None) -> PromptVersion:
    try:
        return PromptVersion.load(path, name=name)
    except (PromptError, OSError, UnicodeDecodeError) as exc:
        raise GraderConfigError(f"cannot read judge prompt {path}: {exc}") from None


def _sections(text: str) -> tuple[str | None, str]:
    """(system, user) from a template's section markers; no markers: the whole text is the user message."""
    marks = list(_SECTION.finditer(text))
    if not marks:
        return None, text
    sections: dict[str, str] = {}
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        sections[mark.group(1)] = sections.get(mark.group(1), "") + text[mark.end():end]
    if not sections.get("user", "").strip():
        raise GraderConfigError("a judge prompt with section markers needs a non-empty <!-- user --> section")
    return sections.get("system"), sections["user"]


def render_value(value: Any) -> str:
    """A value as prompt text: strings as they are, chat transcripts as lines, data as indented JSON."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(_is_message(v) for v in value):
        return "\n".join(f"{_field(m, 'role')}: {render_value(_field(m, 'content'))}" for m in value)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _is_message(value: Any) -> bool:
    return _field(value, "role") is not None and (isinstance(value, dict) or hasattr(value, "content"))


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)

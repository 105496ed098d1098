"""Cassette misses that a person can debug: who asked, what changed, how to fix it.

Users of other record/replay tools say cache misses are nearly impossible to debug. A miss here
names the suite, variant, task and epoch, and shows a field-by-field diff between the request
sent and the nearest recorded one — the changed prompt text, model, temperature or tools.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.json_bodies import loads

if TYPE_CHECKING:
    from harness.engine.cassette.integrity import Damage

__all__ = ["CassetteMiss", "AbandonedCall", "DamagedRecording", "json_body", "body_diff"]

_MAX_FIELDS = 12


def json_body(raw: Any) -> Any:
    """A request body as JSON (``None`` when empty, the text itself when not JSON)."""
    if raw is None or raw == b"" or raw == "":
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        return loads(text)  # msgspec's parse, json's result (harness.core.json_bodies): twice per replayed call
    except ValueError:
        return text


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{path}.{key}" if path else str(key)))
        return out or {path: {}}
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{path}[{index}]"))
        return out or {path: []}
    return {path: value}


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _text_diff(recorded: str, sent: str) -> list[str]:
    lines = difflib.unified_diff(recorded.splitlines(), sent.splitlines(), "recorded", "sent", lineterm="", n=1)
    return ["      " + line for line in list(lines)[2:14]]


def body_diff(recorded: Any, sent: Any) -> list[str]:
    """Readable lines: one per differing field, text fields as a unified diff."""
    if recorded == sent:
        return []
    old, new = _flatten(recorded), _flatten(sent)
    lines: list[str] = []
    for path in sorted(set(old) | set(new)):
        if old.get(path, _MISSING) == new.get(path, _MISSING):
            continue
        before, after = old.get(path, _MISSING), new.get(path, _MISSING)
        if isinstance(before, str) and isinstance(after, str) and ("\n" in before or len(before) > 80):
            lines.append(f"  ~ {path}: text changed")
            lines.extend(_text_diff(before, after))
        elif before is _MISSING:
            lines.append(f"  + {path}: {_show(after)} (not in the recording)")
        elif after is _MISSING:
            lines.append(f"  - {path}: {_show(before)} (recorded, no longer sent)")
        else:
            lines.append(f"  ~ {path}: recorded {_show(before)}, sent {_show(after)}")
        if len(lines) >= _MAX_FIELDS * 3:
            lines.append("  … more differences not shown")
            break
    return lines


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _where(key: str) -> tuple[str, str]:
    """The unit a request key names, in words, and its call (``b0 c2``; '?' when unknown)."""
    suite, channel, variant, task, epoch, *rest = (key.split("|") + [""] * 7)[:7]
    where = f"suite '{suite}', variant '{variant}', task '{task}', epoch {epoch.lstrip('e')}"
    if channel and channel != "flow":
        where += f" ({channel})"
    return where, " ".join(part for part in rest if part) or "?"


class CassetteMiss(Exception):
    """A request with no recording, in a mode that may not record it."""

    what = "cassette miss"
    names_call = True

    def __init__(self, key: str, reason: str, diff: list[str] | None = None, hint: str = "") -> None:
        self.key = key
        self.reason = reason
        self.diff = diff or []
        where, call = _where(key)
        lines = [f"{self.what} for {where}{f', call {call}' if self.names_call else ''}: {reason}"]
        if self.diff:
            lines.append("  difference from the nearest recorded request:")
            lines.extend(self.diff)
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


class AbandonedCall(CassetteMiss):
    """A call the recording has no reply for because the task failed while it was in flight.

    When one branch of an ``asyncio.gather`` fails, the task ends and its siblings' requests —
    already sent — never get their replies recorded. Replaying the task, those requests are
    answered the way they were then: not at all, until the task ends (and cancels them). A
    changed flow that really makes new calls still gets a miss, after ``wait_s``.
    """

    def __init__(self, key: str, reason: str, wait_s: float, **kwargs: object) -> None:
        super().__init__(key, reason, **kwargs)  # type: ignore[arg-type]
        self.wait_s = wait_s


class DamagedRecording(CassetteMiss):
    """A unit's recording failed the integrity check: the unit fails, naming the file and the fix.

    ``once`` records a damaged recording again; one made by a newer harness is refused (this
    harness cannot tell what overwriting it would lose) until the harness is upgraded or the
    file deleted.
    """

    def __init__(self, key: str, path: Path, damage: Damage, once_command: str) -> None:
        self.path, self.damage = path, damage
        if damage.kind == "newer":
            reason = f"the recording at {path} was {damage.reason}"
            hint = ("Upgrade orchestration-harness to replay it (pip install -U orchestration-harness), or delete "
                    f"it and record the unit again: {once_command}")
        else:
            reason = f"the recording at {path} is damaged: {damage.reason}"
            hint = f"To record it again: {once_command} (once records a damaged recording again)"
        super().__init__(key, reason, hint=hint)

    what = "damaged recording"
    names_call = False

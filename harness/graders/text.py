"""Text helpers shared by the code graders: normalisation, number extraction, JSON parsing.

Kept apart from the graders so that each rule (what "the same answer" means, which number in a
sentence is "the answer") is written once and tested once.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["Normalization", "normalize", "extract_numbers", "parse_structured", "NotJSON", "shorten"]


@dataclass(frozen=True)
class Normalization:
    """Which differences do not count. Each switch removes one kind of difference.

    ``unicode``: NFKC (full-width digits, ligatures, non-breaking spaces become plain forms);
    ``casefold``: case, including ``ß``/``ss``; ``punctuation``: every Unicode punctuation
    character (category ``P*``); ``whitespace``: runs of whitespace become one space, ends trimmed.
    """

    casefold: bool = True
    whitespace: bool = True
    punctuation: bool = True
    unicode: bool = True

    def apply(self, text: str) -> str:
        return normalize(text, self)


def normalize(text: str, how: Normalization = Normalization()) -> str:
    """``text`` with the differences ``how`` ignores removed."""
    if how.unicode:
        text = unicodedata.normalize("NFKC", text)
    if how.casefold:
        text = text.casefold()
        if how.unicode:  # casefold can produce forms NFKC would change again
            text = unicodedata.normalize("NFKC", text)
    if how.punctuation:
        text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    if how.whitespace:
        text = " ".join(text.split())
    return text


_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])"
)
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})


def extract_numbers(text: str) -> list[float]:
    """Every number written in ``text``, in order: ``-3``, ``1,234.5``, ``.5``, ``6.02e23``.

    Full-width digits and Unicode minus signs are read as their ASCII forms; thousands
    separators must be well formed (``1,234`` is one number, ``1,23`` is two).
    """
    plain = unicodedata.normalize("NFKC", text).translate(_MINUS_SIGNS)
    found = []
    for match in _NUMBER.finditer(plain):
        token = match.group(0)
        if not any(ch.isdigit() for ch in token):
            continue
        try:
            found.append(float(token.replace(",", "")))
        except ValueError:
            continue
    return found


class NotJSON(ValueError):
    """An output that should be JSON and is not (the message says where it broke)."""


_FENCE = re.compile(r"^\s*```[\w-]*\s*\n(?P<body>.*?)\n?\s*```\s*$", re.DOTALL)


def parse_structured(output: Any, strip_code_fences: bool = False) -> Any:
    """An output as data: dicts and lists as they are, pydantic models dumped, text parsed as JSON.

    ``strip_code_fences`` accepts a reply wrapped in a Markdown code fence (```json … ```),
    which chat models often add; off by default, since a strict format check should see it.
    """
    if isinstance(output, BaseModel):
        return output.model_dump(mode="json")
    if isinstance(output, dict | list):
        return output
    if output is None:
        raise NotJSON("the output is empty (None)")
    if not isinstance(output, str):
        return output
    text = output
    if strip_code_fences:
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group("body")
    if not text.strip():
        raise NotJSON("the output is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotJSON(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def shorten(value: Any, limit: int = 80) -> str:
    """A value as a short one-line text for reasons (``'abc…'``)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(shown) if isinstance(value, str) else shown

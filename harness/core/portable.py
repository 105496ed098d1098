"""Paths and tracebacks as run folders store them: nothing tied to the machine that ran.

Run folders and cassettes are committed (``reports/baseline``) and compared across machines, and
a variant's settings hash covers its prompt's path: an absolute path would leak the machine's
layout into the repository and make the same suite hash differently in two checkouts.
"""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path

__all__ = ["portable_path", "portable_traceback"]

_SITE = re.compile(r'File "[^"]*[/\\](?:site|dist)-packages[/\\]')
_STDLIB = re.compile(r'File "[^"]*[/\\]lib[/\\]python3\.\d+[/\\]')


def portable_path(path: str | Path) -> str:
    """``path`` relative to the working directory (the project) when inside it, in POSIX form; else as given."""
    raw = Path(path)
    if not raw.is_absolute():  # already portable (or not a path: "<inline>")
        return str(path)
    try:
        return raw.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def portable_traceback(exc: BaseException, limit: int | None = None) -> str:
    """The traceback of ``exc`` with project files relative and installed packages as ``<site-packages>/``."""
    text = "".join(traceback.format_exception(exc, limit=limit))
    cwd = str(Path.cwd().resolve())
    text = text.replace(f'File "{cwd}{os.sep}', 'File "')
    text = _SITE.sub('File "<site-packages>/', text)
    return _STDLIB.sub('File "<python>/', text)

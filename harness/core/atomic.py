"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Run folders, cassettes, baselines and the local model's state are read by other processes (a
viewer, workers, a resumed run) while they are written. Each write goes to a temporary file in
the same folder, named after this process and thread so concurrent writers never share one,
then ``os.replace`` swaps it in (atomic on one filesystem).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, making its folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

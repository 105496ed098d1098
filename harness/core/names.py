"""Names made safe for file and folder names: the one slugify every layer uses."""

from __future__ import annotations

__all__ = ["slugify"]


def slugify(text: str, *, keep: str = "-_.@+", fill: str = "_") -> str:
    """``text`` with every character but letters, digits and ``keep`` replaced by ``fill``.

    The defaults are the cassette store's (``triage@v2`` stays readable): stored cassette paths
    depend on them, so they never change. Judges use ``keep="-_.", fill="-"``.
    """
    return "".join(c if c.isalnum() or c in keep else fill for c in text)

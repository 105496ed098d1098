"""Record modes: what a run does with the cassettes (its own module: the CLI needs the names
long before it needs vcrpy)."""

from __future__ import annotations

import enum

__all__ = ["RecordMode"]


class RecordMode(str, enum.Enum):
    """``none`` replay only (default) · ``once`` record tasks with no recording · ``rewrite``
    record everything again · ``off`` live, nothing recorded."""

    NONE = "none"
    ONCE = "once"
    REWRITE = "rewrite"
    OFF = "off"

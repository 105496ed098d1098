"""ShopDesk tests: make ``shopdesk`` importable even before the editable install knows about it.

The editable install's path finder lists the packages that existed when it was built; until
``pip install -e .`` is re-run after ``agents/shopdesk`` appeared, ``import shopdesk`` fails.
Adding ``agents/`` here keeps the domain tests meaningful meanwhile; the subprocess test in
``test_shopdesk_flows_build.py`` still checks the real installed state and says what to run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# ``tests/`` is on sys.path under pytest, so this very folder can pass for a namespace package
# named ``shopdesk`` (origin None); only a regular package with an __init__ counts as installed.
_spec = importlib.util.find_spec("shopdesk")
if _spec is None or _spec.origin is None:
    sys.path.insert(0, str(REPO_ROOT / "agents"))

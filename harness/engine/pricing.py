"""Cost of a model call from a price table keyed by model name (USD per million tokens).

Prices change; the table is a default that a project overrides with :func:`set_prices` (or the
``HARNESS_PRICES`` environment variable pointing at a JSON file). A model with no price has
no cost: :func:`cost_usd` returns ``None`` for it (logged once), the model span records
``cost_usd: null``, and reports say "price unknown" rather than a made-up $0.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

__all__ = ["Price", "cost_usd", "price_of", "set_prices"]

log = logging.getLogger(__name__)

Price = tuple[float, float]  # (input, output) USD per 1M tokens

_DEFAULT: dict[str, Price] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    # Local and stub models cost nothing to call.
    "smollm2": (0.0, 0.0),
    "stub": (0.0, 0.0),
}

_table: dict[str, Price] = dict(_DEFAULT)
_warned: set[str] = set()


def _load_env_table() -> None:
    path = os.environ.get("HARNESS_PRICES")
    if path:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        set_prices({k: (float(v[0]), float(v[1])) for k, v in data.items()})


def set_prices(table: dict[str, Price], replace: bool = False) -> None:
    if replace:
        _table.clear()
    _table.update(table)


def price_of(model: str) -> Price | None:
    """The (input, output) price per million tokens of ``model``, or None when no price is known."""
    if model in _table:
        return _table[model]
    # "gpt-4o-mini-2024-07-18" -> "gpt-4o-mini": the longest known prefix wins.
    matches = [name for name in _table if model.startswith(name)]
    return _table[max(matches, key=len)] if matches else None


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """USD for one call, or None when the model has no price (never a made-up $0)."""
    price = price_of(model)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            log.info("no price for model %r: its cost is unknown (set one with harness.engine.pricing.set_prices "
                     "or HARNESS_PRICES)", model)
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


_load_env_table()

"""ShopDesk: the demo domain (an online shop's customer support) and its orchestration flows.

``import shopdesk`` is cheap and loads only the domain; ``import shopdesk.flows`` registers the
eight pattern flows with the harness.
"""

from __future__ import annotations

from shopdesk.domain import InvalidRequest, NotFound, PolicyViolation, ShopError, ShopState

__all__ = ["ShopState", "ShopError", "NotFound", "InvalidRequest", "PolicyViolation"]

"""Scrubbing: nothing secret is ever written to a cassette.

vcrpy's ``filter_headers`` only touches request headers. Responses carry their own identifiers
(``openai-organization``, ``openai-project``, ``set-cookie``, request ids), and a key can leak
into a body (a prompt that quotes it, an error that echoes it). The :class:`Scrubber` removes
sensitive headers on both sides and replaces every known secret value — the API keys in the
environment and any user pattern — wherever it appears.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Scrubber", "REDACTED"]

REDACTED = "<REDACTED>"

REQUEST_HEADERS = frozenset({
    "authorization", "api-key", "x-api-key", "cookie", "proxy-authorization",
    "openai-organization", "openai-project", "x-goog-api-key",
})
RESPONSE_HEADERS = frozenset({
    "set-cookie", "openai-organization", "openai-project", "x-request-id", "request-id",
    "cf-ray", "x-openai-proxy-wasm", "cf-cache-status", "alt-svc", "strict-transport-security",
})
#: Environment variables whose values are secrets wherever they appear.
SECRET_ENV = ("OPENAI_API_KEY", "HARNESS_JUDGE_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY")
_KEY_SHAPES = (r"sk-[A-Za-z0-9_\-]{16,}", r"sess-[A-Za-z0-9]{20,}")


@dataclass
class Scrubber:
    """Removes secrets from vcrpy requests and responses before they are stored."""

    secrets: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        env_values = [os.environ.get(name, "") for name in SECRET_ENV]
        self._values = sorted({v for v in [*self.secrets, *env_values] if len(v) >= 6}, key=len, reverse=True)
        compiled = [re.escape(v) for v in self._values] + list(_KEY_SHAPES) + list(self.patterns)
        self._regex = re.compile("|".join(f"(?:{p})" for p in compiled)) if compiled else None

    def add_secret(self, value: str | None) -> None:
        if value and len(value) >= 6 and value not in self._values:
            self.secrets.append(value)
            self.__post_init__()

    def text(self, value: str) -> str:
        return self._regex.sub(REDACTED, value) if self._regex else value

    def body(self, body: Any) -> Any:
        """A request or response body with secrets replaced (bytes stay bytes)."""
        return self._bytes(body)

    def _bytes(self, body: Any) -> Any:
        if isinstance(body, bytes):
            decoded = body.decode("utf-8", "surrogateescape")
            return self.text(decoded).encode("utf-8", "surrogateescape")
        if isinstance(body, str):
            return self.text(body)
        return body

    def request(self, request: Any) -> Any:
        """vcrpy ``before_record_request`` hook (also applied before matching)."""
        for name in list(request.headers):
            if name.lower() in REQUEST_HEADERS:
                del request.headers[name]
            else:
                request.headers[name] = self.text(str(request.headers[name]))
        request.body = self._bytes(request.body)
        request.uri = self.text(request.uri)
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any] | None:
        """vcrpy ``before_record_response`` hook. Failed attempts (429/5xx) are not recorded."""
        status = int((response.get("status") or {}).get("code") or 0)
        if status == 429 or status >= 500:
            return None
        headers = response.get("headers") or {}
        response["headers"] = {
            name: [self.text(str(v)) for v in _as_list(values)]
            for name, values in headers.items()
            if name.lower() not in RESPONSE_HEADERS
        }
        body = response.get("body") or {}
        if "string" in body:
            body["string"] = self._bytes(body["string"])
        return response

    def dump(self, values: Iterable[str]) -> list[str]:
        return [self.text(v) for v in values]


def _as_list(values: Any) -> list[Any]:
    return list(values) if isinstance(values, list | tuple) else [values]

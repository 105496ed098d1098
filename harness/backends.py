"""Backend profiles: what an endpoint can do, and how requests are adapted to it.

Real OpenAI-compatible servers deviate from the protocol in known ways (llama.cpp's server has
no ``json_schema`` response format, ignores tools unless ``tool_choice`` is set, rejects
``content: null``…). Rather than special cases inside flows, a profile declares the endpoint's
capabilities and rewrites the request body under the ``openai`` client, in the transport. The
cassette records what was actually sent, and the run manifest records which profile was used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BackendProfile", "get_profile", "register_profile", "PROFILES", "BackendError"]

Adaptation = Callable[[dict[str, Any]], dict[str, Any]]


class BackendError(LookupError):
    pass


@dataclass(frozen=True)
class BackendProfile:
    """An endpoint kind: declared capabilities and the request adaptations they imply."""

    name: str
    description: str = ""
    capabilities: dict[str, bool] = field(default_factory=dict)
    adaptations: tuple[tuple[str, Adaptation], ...] = ()

    @property
    def rewrites(self) -> bool:
        return bool(self.adaptations)

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply every adaptation in order to a chat-completions request body."""
        for _, adaptation in self.adaptations:
            body = adaptation(body)
        return body

    def describe(self) -> dict[str, Any]:
        """What goes in the run manifest."""
        return {
            "name": self.name,
            "capabilities": dict(self.capabilities),
            "adaptations": [name for name, _ in self.adaptations],
        }


PROFILES: dict[str, BackendProfile] = {}


def register_profile(profile: BackendProfile) -> BackendProfile:
    PROFILES[profile.name] = profile
    return profile


def get_profile(name: str) -> BackendProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise BackendError(f"unknown backend profile '{name}' (known: {', '.join(sorted(PROFILES))})") from None


register_profile(
    BackendProfile(
        name="openai",
        description="The OpenAI API, or a server that implements Chat Completions faithfully.",
        capabilities={"json_schema": True, "tools": True, "tool_choice_required": True, "tool_role": True},
    )
)

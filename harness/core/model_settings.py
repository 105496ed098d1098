"""The settings of the model under test (name, temperature, ...), as a variant declares them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["ModelSettings"]


class ModelSettings(BaseModel):
    """Settings of the model under test. Unset values are left to the server's defaults."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model: str = "gpt-4o-mini"
    temperature: float | None = 0.0
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def request_kwargs(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        return data

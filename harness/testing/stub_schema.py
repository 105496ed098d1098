"""A deterministic value for a JSON schema: the stub's structured-output replies."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.testing.stub_rules import _MAX_SCHEMA_DEPTH

# --------------------------------------------------------------------------------------------
# Example values from a JSON schema (structured output, generated tool arguments)
# --------------------------------------------------------------------------------------------


def example_for_schema(schema: dict[str, Any], *, suffix: str = "") -> Any:
    """Build a deterministic value that validates against ``schema``.

    Covers what pydantic and ``openai``'s strict schemas produce: ``$ref``/``$defs``, ``anyOf``
    (first non-null branch), ``allOf``, ``enum`` (first value), ``const``, objects (required
    properties, or all when ``required`` is absent), arrays (``max(minItems, 1)`` items), strings
    (``"stub <field>"`` plus ``suffix``, honouring common formats and length bounds), numbers
    within bounds, booleans. ``pattern`` is not honoured.
    """
    return _SchemaFiller(schema, suffix).value(schema, "value", 0)


#: Builds the value of one schema ``type``: (schema, field name, depth) -> value.
_Builder = Callable[[dict[str, Any], str, int], Any]


@dataclass
class _SchemaFiller:
    root: dict[str, Any]
    suffix: str

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
            schema = self._pointer(schema["$ref"])
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for token in ref[1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token, {}) if isinstance(node, dict) else {}
        return node

    def value(self, schema: Any, name: str, depth: int) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.value(self._pick_branch(schema[key], depth), name, depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.value(self._merge(schema["allOf"]), name, depth + 1)
        kind = self._type(schema)
        builder: _Builder = self._builders().get(kind, self._string)
        return builder(schema, name, depth)

    def _builders(self) -> dict[str, _Builder]:
        return {
            "object": self._object, "array": self._array, "string": self._string,
            "integer": lambda s, n, d: _number(s, integer=True), "number": lambda s, n, d: _number(s),
            "boolean": lambda s, n, d: True, "null": lambda s, n, d: None,
        }

    def _pick_branch(self, branches: list[Any], depth: int) -> Any:
        """First non-null branch; past the depth limit prefer null, so recursive models terminate."""
        resolved = [self.resolve(branch) for branch in branches]
        nulls = [b for b in resolved if b.get("type") == "null"]
        if depth >= _MAX_SCHEMA_DEPTH and nulls:
            return nulls[0]
        return next((b for b in resolved if b.get("type") != "null"), resolved[0])

    def _merge(self, parts: list[Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in (self.resolve(p) for p in parts):
            properties = {**merged.get("properties", {}), **part.get("properties", {})}
            required = [*merged.get("required", []), *part.get("required", [])]
            merged.update(part)
            if properties:
                merged["properties"] = properties
            if required:
                merged["required"] = required
        return merged

    @staticmethod
    def _type(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if isinstance(kind, str):
            return kind
        if "properties" in schema:
            return "object"
        return "array" if "items" in schema else "string"

    def _object(self, schema: dict[str, Any], name: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = schema.get("required")
        names = [k for k in properties if k in required] if isinstance(required, list) else list(properties)
        if depth >= _MAX_SCHEMA_DEPTH and not isinstance(required, list):
            names = []
        return {key: self.value(properties[key], key, depth + 1) for key in names}

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        count = max(int(schema.get("minItems", 0)), 0 if depth >= _MAX_SCHEMA_DEPTH else 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and prefix:
            return [self.value(item, name, depth + 1) for item in prefix]
        return [self.value(schema.get("items", {}), name, depth + 1) for _ in range(count)]

    def _string(self, schema: dict[str, Any], name: str, depth: int) -> str:
        formatted = _FORMATTED_STRINGS.get(str(schema.get("format")))
        text = formatted if formatted is not None else f"stub {name}{self.suffix}"
        min_length = int(schema.get("minLength", 0))
        if len(text) < min_length:
            text = text + "x" * (min_length - len(text))
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text


_FORMATTED_STRINGS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "stub@example.com",
    "uri": "https://example.com/stub",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "duration": "P1D",
}


def _number(schema: dict[str, Any], *, integer: bool = False) -> int | float:
    """1 if allowed, else the first bound-derived candidate that satisfies every bound."""
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = 1 if integer else 0.5
    candidates = [1, lo, hi, xlo + step if xlo is not None else None, xhi - step if xhi is not None else None]
    if lo is not None and hi is not None:
        candidates.append((lo + hi) / 2)

    def allowed(value: float) -> bool:
        return (
            (lo is None or value >= lo) and (hi is None or value <= hi)
            and (xlo is None or value > xlo) and (xhi is None or value < xhi)
        )

    for candidate in candidates:
        if candidate is None:
            continue
        value = math.ceil(candidate) if integer else candidate
        if allowed(value):
            return int(value) if integer else float(value)
    return int(lo or 0) if integer else float(lo or 0)



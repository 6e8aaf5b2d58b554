"""JSON Schema <-> Gemini ``Schema`` (the OpenAPI 3 subset Gemini accepts), pure.

Gemini rejects a request whose function parameters or response schema carry keys outside its
subset (``additionalProperties``, ``$schema``, ``$ref``, ``oneOf``...), so ``clean_schema`` keeps
only the keys Gemini knows, recursing through ``properties``, ``items`` and ``anyOf``. A
``type`` list with ``"null"`` becomes ``nullable``; ``schema_to_json`` turns that back and
lower-cases Gemini's ``STRING``/``OBJECT`` type names.
"""

from __future__ import annotations

from typing import Any

# Keys of Gemini's Schema object that take plain values.
_PLAIN_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "propertyOrdering",
        "default",
        "minimum",
        "maximum",
    }
)


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a JSON Schema with only what Gemini's ``Schema`` accepts."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            kinds = [k for k in value if k != "null"]
            if kinds:
                out["type"] = kinds[0]
            if len(kinds) < len(value):
                out["nullable"] = True
        elif key == "const" and "enum" not in schema:
            out["enum"] = [value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {
                name: clean_schema(sub) for name, sub in value.items() if isinstance(sub, dict)
            }
        elif key == "items" and isinstance(value, dict):
            out[key] = clean_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [clean_schema(sub) for sub in value if isinstance(sub, dict)]
        elif key in _PLAIN_KEYS:
            out[key] = value
    enum = out.get("enum")
    if enum is not None and not (isinstance(enum, list) and all(isinstance(v, str) for v in enum)):
        del out["enum"]  # Gemini enums are lists of strings
    return out


def schema_to_json(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema for a Gemini ``Schema``: lower-case types, ``nullable`` as a type list."""
    out: dict[str, Any] = {}
    nullable = bool(schema.get("nullable"))
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key == "type" and isinstance(value, str):
            out[key] = [value.lower(), "null"] if nullable else value.lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {
                name: schema_to_json(sub) for name, sub in value.items() if isinstance(sub, dict)
            }
        elif key == "items" and isinstance(value, dict):
            out[key] = schema_to_json(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [schema_to_json(sub) for sub in value if isinstance(sub, dict)]
        else:
            out[key] = value
    return out

"""Canonical records."""

from __future__ import annotations

import dataclasses

from llmgw.types import ChatRequest


def test_with_model_copies_every_field_but_the_model() -> None:
    values = {}
    for i, f in enumerate(dataclasses.fields(ChatRequest)):
        values[f.name] = f"value-{i}"  # distinct sentinel per field
    req = ChatRequest(**values)
    copy = req.with_model("other")
    for f in dataclasses.fields(ChatRequest):
        expected = "other" if f.name == "model" else values[f.name]
        assert getattr(copy, f.name) == expected, f.name

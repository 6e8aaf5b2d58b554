"""The inbound codecs by API name (typed registry)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from llmgw.wire import anthropic as anthropic_wire
from llmgw.wire import openai as openai_wire

INBOUND: dict[str, ModuleType] = {"openai": openai_wire, "anthropic": anthropic_wire}


def codec_for(api: str) -> Any:
    return INBOUND[api]

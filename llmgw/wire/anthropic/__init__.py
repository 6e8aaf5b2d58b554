"""The Anthropic Messages format (``POST /v1/messages``).

``CODEC`` is the one codec object (see ``llmgw.wire.codec``); the modules of this package are
its parts and need not be imported by code outside ``llmgw.wire``.
"""

from __future__ import annotations

from llmgw.wire.anthropic.codec import AnthropicCodec

__all__ = ["CODEC", "AnthropicCodec"]

CODEC = AnthropicCodec()

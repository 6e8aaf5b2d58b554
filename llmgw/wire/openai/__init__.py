"""The OpenAI chat-completions format (also vLLM, Ollama and other compatible servers).

``CODEC`` is the one codec object (see ``llmgw.wire.codec``); the modules of this package are
its parts and need not be imported by code outside ``llmgw.wire``.
"""

from __future__ import annotations

from llmgw.wire.openai.codec import OpenAICodec

__all__ = ["CODEC", "OpenAICodec"]

CODEC = OpenAICodec()

"""Google Gemini (Generative Language API ``v1beta``): ``generateContent`` and its stream.

``CODEC`` is the one codec object (see ``llmgw.wire.codec``); the modules of this package are
its parts and need not be imported by code outside ``llmgw.wire``.
"""

from __future__ import annotations

from llmgw.wire.gemini.codec import GeminiCodec

__all__ = ["CODEC", "GeminiCodec"]

CODEC = GeminiCodec()

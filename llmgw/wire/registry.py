"""Which codec speaks which format, looked up by name.

``INBOUND`` holds the codecs of the APIs the gateway serves (``types.Api``): the gateway
decodes its clients' requests and encodes its answers and errors with them, and replay reads
recorded bodies back with them. ``FORMATS`` holds every format's codec (``types.WireFormat``),
both directions, for the provider adapters and the mock provider.

Both mappings are read-only. Names arrive as plain strings (a route table, a header, an audit
row), so ``codec_for`` / ``wire_codec`` take a ``str`` and raise ``KeyError`` for a name that is
not one, and ``is_api`` narrows a string to ``Api`` for callers that would rather branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeGuard

from llmgw.types import Api, WireFormat
from llmgw.wire import anthropic, gemini, openai
from llmgw.wire.codec import Codec, WireCodec

__all__ = ["FORMATS", "INBOUND", "codec_for", "is_api", "is_wire_format", "wire_codec"]

FORMATS: Mapping[WireFormat, WireCodec] = MappingProxyType(
    {"openai": openai.CODEC, "anthropic": anthropic.CODEC, "gemini": gemini.CODEC}
)
INBOUND: Mapping[Api, Codec] = MappingProxyType(
    {"openai": openai.CODEC, "anthropic": anthropic.CODEC}
)


def is_api(name: object) -> TypeGuard[Api]:
    """True when ``name`` is an API the gateway serves (``"openai"`` or ``"anthropic"``)."""
    return isinstance(name, str) and name in INBOUND


def is_wire_format(name: object) -> TypeGuard[WireFormat]:
    """True when ``name`` is a format some codec speaks."""
    return isinstance(name, str) and name in FORMATS


def codec_for(api: str) -> Codec:
    """The inbound codec of ``api``; ``KeyError`` when the gateway does not serve that API."""
    if not is_api(api):
        raise KeyError(f"no inbound codec for {api!r} (known: {', '.join(INBOUND)})")
    return INBOUND[api]


def wire_codec(name: str) -> WireCodec:
    """The codec of format ``name``, both directions; ``KeyError`` for an unknown format."""
    if not is_wire_format(name):
        raise KeyError(f"no codec for format {name!r} (known: {', '.join(FORMATS)})")
    return FORMATS[name]

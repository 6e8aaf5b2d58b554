"""Canonical records that flow through the gateway.

Inside the gateway every call has one shape, with OpenAI chat-completions semantics. Wire
codecs (``llmgw.wire``) translate each inbound or provider format to and from these records at
the edge, so the pipeline, the router, the limiter and the audit writer never see a vendor
format.

Messages stay plain dicts in the OpenAI chat format because that is what most traffic already
is (the OpenAI codec is then almost a pass-through) and because tool-call and multimodal parts
are open-ended. A canonical message is one of::

    {"role": "system", "content": str}
    {"role": "user", "content": str | list[part]}
    {"role": "assistant", "content": str | None, "tool_calls": [tool_call, ...]?}
    {"role": "tool", "tool_call_id": str, "content": str}

where ``part`` is ``{"type": "text", "text": str}`` or
``{"type": "image_url", "image_url": {"url": str}}``, and ``tool_call`` is
``{"id": str, "type": "function", "function": {"name": str, "arguments": str}}`` (arguments
are a JSON text, as OpenAI sends them). Tools are OpenAI function tools:
``{"type": "function", "function": {"name", "description"?, "parameters"?}}``.

Finish reasons are OpenAI's: ``stop``, ``length``, ``tool_calls``, ``content_filter``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
# The APIs the gateway serves to its clients (the ``api`` column of the audit log).
Api = Literal["openai", "anthropic"]
# Every format a wire codec speaks: the inbound APIs and the providers' own formats.
WireFormat = Literal["openai", "anthropic", "gemini"]

Message = dict[str, Any]
Tool = dict[str, Any]
ToolCall = dict[str, Any]


@dataclass(slots=True)
class ChatRequest:
    """A chat call in canonical form.

    ``model`` is the name the caller asked for (a public model name or alias) when the request
    comes in, and the provider's own model name once a codec encodes it for a deployment.
    ``extra`` carries provider-neutral parameters this record does not name (e.g.
    ``presence_penalty``); the OpenAI codec forwards them, others drop what they cannot map.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    n: int = 1
    user: str | None = None
    include_usage: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def with_model(self, model: str) -> ChatRequest:
        """A copy for one deployment (``dataclasses.replace`` costs 10x more per request)."""
        return ChatRequest(
            model,
            self.messages,
            self.stream,
            self.max_tokens,
            self.temperature,
            self.top_p,
            self.stop,
            self.tools,
            self.tool_choice,
            self.response_format,
            self.seed,
            self.n,
            self.user,
            self.include_usage,
            self.extra,
        )


@dataclass(slots=True)
class Usage:
    """Token counts for one call. ``estimated`` is true when the gateway counted them itself."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class ChatResponse:
    """A complete (non-streamed) answer in canonical form."""

    id: str
    model: str
    content: str | None
    finish_reason: FinishReason = "stop"
    tool_calls: list[ToolCall] | None = None
    usage: Usage = field(default_factory=Usage)
    created: int = 0
    refusal: str | None = None


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call. ``id`` and ``name`` come with the first piece only."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class Chunk:
    """One canonical stream event. Any field may be empty; a chunk with none set is a no-op.

    A stream is a sequence of chunks carrying text deltas and tool-call deltas, then one chunk
    with ``finish_reason``, and (when the provider reports it) one with ``usage``. Stream
    decoders emit chunks in that order; stream encoders accept them in that order.
    """

    text: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


@dataclass(slots=True, frozen=True)
class StreamMeta:
    """What a stream encoder needs to know before the first chunk."""

    id: str
    model: str
    created: int
    input_tokens: int = 0


# -- what a call's record says about it ---------------------------------------------------------

# How a call ended, as the audit row's ``outcome`` says it:
#   ok        answered (by an upstream or from the cache);
#   degraded  every deployment failed and the tenant's fallback text was served (not billed);
#   error     an upstream failure reached the client;
#   rejected  the gateway refused the call (key, model allowance, limits, a malformed body);
#   aborted   the client left before the answer ended (a stream pays for what it produced).
Outcome = Literal["ok", "degraded", "error", "rejected", "aborted"]

# How much of a call the audit log keeps (a tenant's ``retention``): ``full`` bodies, bodies
# ``redacted`` by the audit writer, or ``metadata`` only (no bodies at all).
Retention = Literal["full", "redacted", "metadata"]

# What the response cache did for a call, as the ``x-llmgw-cache`` header says it: answered from
# an exact or a semantic (paraphrase) entry, looked and missed, or did not look at all.
CacheStatus = Literal["hit-exact", "hit-semantic", "miss", "bypass"]

"""Wire codecs: pure translation between each API's JSON and the canonical records.

One package per format, each exposing one codec object ``CODEC`` that speaks it in both
directions, so the gateway can take any inbound format to any provider and the mock provider
can speak every format with the same code::

    openai/      OpenAI chat completions (also vLLM, Ollama, other compatible servers)
    anthropic/   Anthropic Messages
    gemini/      Google Gemini generateContent

Shared modules:

``codec``
    The contract: the ``Codec`` (inbound) and ``ProviderCodec`` (outbound) Protocols, their
    union ``WireCodec``, and the ``StreamEncoder`` / ``StreamDecoder`` Protocols.
``registry``
    Codecs by name: ``INBOUND`` / ``codec_for(api)`` for the APIs the gateway serves,
    ``FORMATS`` / ``wire_codec(name)`` for every format.
``sse``
    The server-sent-events parser and formatter the stream codecs build on.
``headers``
    Case-insensitive header lookup and ``Retry-After`` parsing for provider errors.

Codecs do no I/O and keep no state beyond a stream's own encoder or decoder object. Inside a
format package the modules are small and one-way (requests, responses, streams, errors, and the
bits they share); nothing outside ``llmgw.wire`` needs to import them.
"""

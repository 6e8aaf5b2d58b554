"""Wire codecs: pure translation between each API's JSON and the canonical records.

One module per format — ``openai``, ``anthropic``, ``gemini`` — and every module offers the same
functions in both directions, so the gateway can take any inbound format to any provider and the
mock provider can speak every format with the same code:

Requests
    ``decode_request(body: dict) -> ChatRequest``
        Validate and translate a request in this format; raises ``errors.BadRequest`` naming the
        offending field. (Gemini takes the model from the URL: ``decode_request(body, model)``.)
    ``encode_request(req: ChatRequest) -> dict``
        The body to send to a provider of this format (``req.model`` is the provider's model name).
Responses
    ``decode_response(body: dict) -> ChatResponse``
    ``encode_response(resp: ChatResponse) -> dict``
Streams
    ``StreamDecoder()``: ``.feed(event: SseEvent) -> list[Chunk]`` turns the provider's SSE events
        into canonical chunks; ``.done`` is true once the format's end marker arrived.
    ``StreamEncoder(meta: StreamMeta, include_usage: bool)``: ``.start() -> bytes``,
        ``.feed(chunk: Chunk) -> bytes``, ``.finish() -> bytes`` (closing events / ``[DONE]``) and
        ``.error(err: GatewayError) -> bytes`` (an in-band error event) produce SSE bytes.
Errors
    ``encode_error(err: GatewayError) -> tuple[int, dict]``: status and this API's error JSON.
    ``decode_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError``:
        classify a provider's error response (honours ``retry-after``).

Codecs do no I/O and keep no state beyond a stream's own encoder/decoder object.
"""

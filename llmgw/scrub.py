"""Secrets out of upstream error text: what a provider says never carries a key back.

Providers sometimes quote the credentials they were sent (``Incorrect API key provided:
Bearer sk-proj-…``), and network errors may quote a URL or a header. Every ``UpstreamError``
message passes through ``upstream_message`` in its constructor (``llmgw.errors``), so no codec,
transport or adapter can forget it: the text is bounded, then every secret in it is replaced by
``[REDACTED:key]`` before it reaches a tenant, a log line or the audit log.

What is replaced:

- key shapes: ``sk-…`` (OpenAI ``sk-proj-…``, Anthropic ``sk-ant-…``, the gateway's own
  ``sk-llmgw-…``), Google ``AIza…``, AWS access key ids ``AKIA…`` / ``ASIA…``;
- ``Bearer <token>`` (the scheme stays);
- values after a credential label: ``x-api-key: …``, ``x-goog-api-key: …``, ``api-key=…``,
  ``api_key": "…"``, ``access_token=…``, ``client_secret=…``, ``password=…``, ``?key=…`` (the
  label stays);
- the exact values of the provider keys this process was configured with
  (``remember_secret``; the HTTP adapters register theirs), also percent-encoded, whatever
  their shape.

Pure apart from the registry of configured values, which is process-wide (the values come from
the environment) and safe to use from any thread.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MESSAGE_LIMIT = 1000
"""Characters of upstream error text kept (after redaction)."""
SCAN_LIMIT = 4096
"""Characters of upstream error text looked at; the rest is dropped unread."""
MIN_SECRET_LEN = 8
"""Configured values shorter than this are not redacted verbatim (they would hit plain words)."""
PLACEHOLDER = "[REDACTED:key]"

_TOKEN = r"[A-Za-z0-9._~+/=-]"
_SECRET = re.compile(
    r"(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|(?:AKIA|ASIA)[0-9A-Z]{16})"
    rf"|(?P<scheme>\b[Bb]earer)[ \t]+{_TOKEN}{{8,}}"
    r"|(?P<label>(?:(?i:x-api-key|x-goog-api-key|api[-_]?key|access[-_]?token"
    r"|refresh[-_]?token|client[-_]?secret|secret[-_]?access[-_]?key|password|secret)"
    r"|[?&]key)[\"']?[ \t]*[:=][ \t]*[\"']?)"
    r"(?![ \t]*[Bb]earer[ \t])[^\s\"'&,;]{4,}"
)
_TRAILING_TOKEN = re.compile(rf"{_TOKEN}+$")

_known: tuple[str, ...] = ()
_known_lock = threading.Lock()


def remember_secret(value: str) -> None:
    """Redact ``value`` verbatim from upstream error text from now on (a configured key)."""
    global _known
    value = value.strip()
    if len(value) < MIN_SECRET_LEN:
        return
    forms = {value, quote(value, safe="")}
    with _known_lock:
        # longest first, so a value containing another is replaced whole
        _known = tuple(sorted(set(_known) | forms, key=len, reverse=True))


def scrub(text: str) -> str:
    """``text`` with every secret replaced (configured values first, then key shapes)."""
    for value in _known:
        if value in text:
            text = text.replace(value, PLACEHOLDER)
    return _SECRET.sub(_replace, text)


def upstream_message(text: str) -> str:
    """Upstream error text as it may be kept: bounded, secrets replaced, at most
    ``MESSAGE_LIMIT`` characters (an ellipsis marks a cut).

    Only the first ``SCAN_LIMIT`` characters are read; a token cut there is dropped whole, so
    no fragment of a secret too short to recognise survives. The text is redacted before it
    is cut to ``MESSAGE_LIMIT``, so a secret across that boundary is replaced, not halved.
    """
    if len(text) > SCAN_LIMIT:
        text = _TRAILING_TOKEN.sub("", text[:SCAN_LIMIT])
    text = scrub(text)
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    return text


def _replace(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    if scheme:
        return f"{scheme} {PLACEHOLDER}"
    label = match.group("label")
    return label + PLACEHOLDER if label else PLACEHOLDER

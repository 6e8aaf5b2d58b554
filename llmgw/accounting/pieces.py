"""Long texts cut into pieces for BPE, so no pre-token is longer than :data:`PIECE_CHARS`.

Why: tiktoken's cost grows faster than linearly with the length of one pre-token (a run the
split pattern cannot break: letters without a space, one repeated character, a whitespace
run). Measured on this project's machine with ``o200k_base``: 64 KB of random lowercase
letters take 24 ms, 256 KB 180 ms, 1 MB 2.1 s and 4 MB 4.9 s; 1 MB of spaces (or 4 MB of
U+3000) overflows the regex engine's stack and tiktoken raises ``PanicException``, a
``BaseException`` that ``except Exception`` does not catch. Cut into pieces of at most 4,096
characters, every shape costs at most about 0.5 µs per character and none panics.

Where: a piece ends, when it can, just before a space that has a non-space character on
both sides (``"word| next"``). Both OpenAI split patterns start a new pre-token at such a
space and no pre-token before it reaches past it, so the counts of the pieces add up to the
count of the whole text exactly. Only a window of :data:`PIECE_CHARS` with no such space
(adversarial runs, long CJK text without spaces) is cut where it is full; that can move a
token or two per cut, a few hundredths of a percent of the piece.
"""

from __future__ import annotations

from collections.abc import Iterator

PIECE_CHARS = 4096
_LOOKS = 64  # spaces tried per piece before cutting where it is full


def pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """``text`` in consecutive pieces of at most ``size`` characters (see the module doc)."""
    n = len(text)
    start = 0
    while n - start > size:
        end = start + size
        cut = boundary(text, start + size // 2, end)
        if cut is None:
            cut = end
        yield text[start:cut]
        start = cut
    yield text[start:]


def boundary(text: str, lo: int, hi: int) -> int | None:
    """The last index ``i`` in ``(lo, hi)`` where a pre-token surely starts: ``text[i]`` is a
    space between two characters that are not whitespace. None when there is none (after
    :data:`_LOOKS` tries)."""
    i = text.rfind(" ", lo + 1, hi)
    for _ in range(_LOOKS):
        if i <= lo or i + 1 >= len(text):
            return None
        if not text[i - 1].isspace() and not text[i + 1].isspace():
            return i
        i = text.rfind(" ", lo + 1, i)
    return None

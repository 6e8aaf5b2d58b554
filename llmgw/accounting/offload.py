"""Exact prompt counts for the event loop: small prompts inline, large ones on a worker thread.

Counting is linear but not cheap: up to ~0.5 µs per character for adversarial text unloaded
(``llmgw.accounting.pieces``), so a 4 MB prompt is seconds of BPE. On the event loop that
stalls every tenant's calls and ``/healthz`` (measured before this module: 4.9 s per 4 MB
prompt of random letters, ``benchmarks/isolation.py``). So:

- a prompt of at most ``INLINE_CHARS`` characters (``llmgw.accounting.estimate``, 8,192:
  at most a few ms, ~0.3 ms for ordinary text) is counted on the loop;
- a larger one is counted on one worker thread (tiktoken releases the GIL while it encodes,
  so the loop runs on), and the caller waits at most ``wait_s`` (0.25 s: an ordinary 4 MB
  prompt counts in ~0.2 s). Past that, or when the thread already has more than
  ``backlog_chars`` (8 M) characters queued, the answer is None and the caller falls back to
  a bound that needs no BPE (the byte bound of ``llmgw.accounting.prompt``). A count whose
  caller gave up is dropped from the queue, or stopped at its next piece if it had started:
  a prompt never costs more than ``wait_s`` of the thread.

One thread, not a pool: counting must never take more than one of the host's cores from the
event loop, and with the wait bounded a busy thread costs a caller only precision, never time.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import tiktoken

from llmgw.accounting.estimate import INLINE_CHARS
from llmgw.accounting.pieces import pieces
from llmgw.accounting.prompt import PromptShape
from llmgw.accounting.tokens import MEMO_MAX_TEXT, get_encoding, text_len

WAIT_S = 0.25
BACKLOG_CHARS = 8_000_000


class Abandoned(Exception):
    """The caller stopped waiting for this count."""


def exact_tokens(
    enc: tiktoken.Encoding, shape: PromptShape, stop: threading.Event | None = None
) -> int:
    """The exact count of ``shape`` (overhead plus every text), on the calling thread.

    Checks ``stop`` between pieces of long texts and raises ``Abandoned`` once it is set, so
    a count nobody waits for any more stops within one piece (a few ms at most).
    """
    total = shape.overhead
    for text in shape.texts:
        if len(text) <= MEMO_MAX_TEXT:
            total += text_len(enc, text)
            continue
        for piece in pieces(text):
            if stop is not None and stop.is_set():
                raise Abandoned
            total += len(enc.encode_ordinary(piece))
    return total


class Offload:
    """Counts prompts off the event loop within a bounded wait (see the module docstring)."""

    def __init__(self, wait_s: float = WAIT_S, backlog_chars: int = BACKLOG_CHARS) -> None:
        self.wait_s = wait_s
        self.backlog_chars = backlog_chars
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._queued = 0  # characters submitted and not yet counted or dropped

    @property
    def queued_chars(self) -> int:
        return self._queued

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmgw-count")
        return self._executor

    def _take(self, chars: int) -> bool:
        with self._lock:
            if self._queued + chars > self.backlog_chars:
                return False
            self._queued += chars
            return True

    def _give_back(self, chars: int) -> None:
        with self._lock:
            self._queued -= chars

    async def count(self, encoding: str, shape: PromptShape) -> int | None:
        """The exact count of ``shape`` with ``encoding``, or None when it would take too long."""
        enc = get_encoding(encoding)
        if shape.chars <= INLINE_CHARS:
            return exact_tokens(enc, shape)
        if not self._take(shape.chars):
            return None
        stop = threading.Event()
        try:
            job: Future[int] = self._pool().submit(exact_tokens, enc, shape, stop)
        except RuntimeError:  # the executor was shut down
            self._give_back(shape.chars)
            return None
        job.add_done_callback(lambda _: self._give_back(shape.chars))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(job), self.wait_s)
        except TimeoutError:  # wait_for cancelled the job: dropped if not started, else
            return None  # stopped at its next piece
        finally:
            stop.set()

    def close(self) -> None:
        """Stop the thread once its current count is done; queued counts are dropped."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

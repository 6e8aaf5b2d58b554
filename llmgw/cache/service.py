"""The response cache as the pipeline sees it: look up, remember, count, flag, purge.

``ResponseCache.lookup`` runs once per chat call after admission. It resolves the tenant's
policy for the model, reads the caller's cache headers, and tries an exact match (a point
lookup in SQLite, on the event loop: tens of microseconds) and then, when the policy allows,
a match by meaning (embedding and vector search on a worker thread). The ``CacheCall`` it
returns travels with the call: it says what to put in the ``x-llmgw-cache`` header, holds the
hit if there was one, and what to store when the call produces a storable answer.

The cache never fails a call: a read or write error is logged and the call goes upstream.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from llmgw.cache.control import Decision, decide, parse_directives
from llmgw.cache.entry import CachedAnswer
from llmgw.cache.keys import context_key, exact_key
from llmgw.cache.policy import CachePolicy, resolve_policy, scope_id
from llmgw.cache.store import CacheReads, CacheWriter, Found, NewEntry, purge
from llmgw.settings.schema import Settings
from llmgw.settings.tenancy import in_subtree
from llmgw.store.db import open_db
from llmgw.types import CacheStatus, ChatRequest

if TYPE_CHECKING:
    from llmgw.cache.semantic import SemanticIndex

log = logging.getLogger("llmgw.cache")

RECENT_HITS = 50_000  # hits remembered for flagging by request id without a database read
SEMANTIC_WORKERS = 2

HIT_EXACT: CacheStatus = "hit-exact"
HIT_SEMANTIC: CacheStatus = "hit-semantic"
MISS: CacheStatus = "miss"
BYPASS: CacheStatus = "bypass"


@dataclass(slots=True)
class CacheCall:
    """The cache's part in one call."""

    status: CacheStatus  # the x-llmgw-cache header
    tenant: str
    model: str  # public model name
    decision: Decision | None = None
    policy: CachePolicy | None = None
    scope: str = ""
    key: str = ""
    context: str | None = None
    vector: bytes | None = None
    found: Found | None = None
    similarity: float | None = None
    refused: str | None = None  # why the nearest paraphrase was not used

    @property
    def kind(self) -> str:
        return "semantic" if self.status == HIT_SEMANTIC else "exact"


@dataclass(slots=True, frozen=True)
class FlagResult:
    request_id: str
    removed: bool  # the entry was still there and is gone now
    entry: int | None


class ResponseCache:
    """One per gateway process."""

    def __init__(self, settings: Settings, state_path: Path) -> None:
        self.settings = settings
        self.state_path = Path(state_path)
        self.reads = CacheReads(state_path)
        self._semantic: SemanticIndex | None = None  # built on first need (numpy, onnx)
        self._semantic_lock = threading.Lock()
        self.writer = CacheWriter(
            state_path,
            max_entries=settings.cache.max_entries,
            max_bytes=settings.cache.max_bytes,
            on_maintain=self._save_vectors,
        )
        self._policies: dict[tuple[str, str], CachePolicy] = {}
        self._pool = ThreadPoolExecutor(SEMANTIC_WORKERS, thread_name_prefix="llmgw-semantic")
        self._recent: OrderedDict[str, tuple[str, int]] = OrderedDict()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def semantic(self) -> SemanticIndex:
        """The semantic index (imports numpy and onnxruntime the first time it is needed)."""
        if self._semantic is None:
            with self._semantic_lock:
                if self._semantic is None:
                    from llmgw.cache.semantic import SemanticIndex

                    self._semantic = SemanticIndex(self.reads, self.settings.cache.embedder)
        return self._semantic

    def _save_vectors(self, conn: sqlite3.Connection) -> None:
        if self._semantic is not None:
            self._semantic.save_large(conn)

    def start(self) -> None:
        self.writer.start()
        if self.semantic_configured():
            self.semantic.warm()

    async def stop(self) -> None:
        await asyncio.to_thread(self._pool.shutdown, wait=True)
        await asyncio.to_thread(self.writer.close)
        self.reads.close()

    def semantic_configured(self) -> bool:
        """Does any tenant (or the default) turn on matching by meaning?"""
        if not self.settings.cache.enabled:
            return False
        if self.settings.cache.defaults.semantic:
            return True
        return any(
            (t.cache is not None and t.cache.semantic)
            or any(r.semantic for r in t.cache_models.values())
            for t in self.settings.tenants.values()
        )

    def policy(self, tenant: str, model: str) -> CachePolicy:
        try:
            return self._policies[tenant, model]
        except KeyError:
            found = self._policies[tenant, model] = resolve_policy(self.settings, tenant, model)
            return found

    # -- per call ----------------------------------------------------------------------------

    async def lookup(
        self,
        tenant: str,
        key_id: str | None,
        model: str,
        req: ChatRequest,
        headers: list[tuple[bytes, bytes]],
    ) -> CacheCall:
        """What the cache does for this call, with the hit if there is one.

        Raises ``BadRequest`` for cache headers it cannot honour; nothing else.
        """
        policy = self.policy(tenant, model)
        decision = decide(policy, req, parse_directives(headers))
        if decision.bypass:
            self.writer.count(tenant, model, BYPASS)
            return CacheCall(BYPASS, tenant, model)
        scope = scope_id(policy.scope, tenant, key_id)
        cc = CacheCall(MISS, tenant, model, decision, policy, scope, exact_key(scope, model, req))
        if decision.semantic or (decision.store and policy.semantic):
            cc.context = context_key(scope, model, req)
        if not decision.read:
            return cc
        now = time.time()
        try:
            found = self.reads.exact(scope, cc.key, now)
            if found is not None:
                cc.status, cc.found = HIT_EXACT, found
                return cc
            if decision.semantic and decision.question is not None and cc.context is not None:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._pool,
                    self.semantic.lookup,
                    (scope, model, cc.context),
                    decision.question,
                    policy.semantic_threshold,
                    now,
                )
                cc.vector, cc.refused = result.vector, result.reason
                if result.found is not None:
                    cc.status, cc.found = HIT_SEMANTIC, result.found
                    cc.similarity = result.similarity
        except (sqlite3.Error, OSError, RuntimeError):
            log.exception("cache lookup failed; the call goes upstream")
        return cc

    def served(self, cc: CacheCall, request_id: str) -> None:
        """A hit was answered: count it, keep the entry warm, remember it for flagging."""
        found = cc.found
        assert found is not None
        answer = found.answer
        self.writer.touch(found.id, time.time())
        self.writer.count(
            cc.tenant,
            cc.model,
            cc.status,
            answer.input_tokens + answer.output_tokens,
            answer.cost_nanos,
        )
        self._recent[request_id] = (cc.tenant, found.id)
        if len(self._recent) > RECENT_HITS:
            self._recent.popitem(last=False)

    def missed(self, cc: CacheCall) -> None:
        self.writer.count(cc.tenant, cc.model, MISS)

    def remember(self, cc: CacheCall, answer: CachedAnswer) -> None:
        """Store a complete answer for the calls that come after (when the decision allows)."""
        decision = cc.decision
        if decision is None or not decision.store:
            return
        vector = cc.vector if decision.question is not None else None
        on_stored = None
        if vector is not None and cc.context is not None:
            # called as on_stored(entry_id) -> semantic.add(part, entry_id, vector=...)
            on_stored = functools.partial(
                self.semantic.add, (cc.scope, cc.model, cc.context), vector=vector
            )
        self.writer.put(
            NewEntry(
                scope=cc.scope,
                tenant=cc.tenant,
                model=cc.model,
                key=cc.key,
                answer=answer,
                ttl_s=decision.ttl_s,
                context=cc.context,
                prompt=decision.question,
                vector=vector,
                embedder=self.settings.cache.embedder if vector is not None else None,
                on_stored=on_stored,
            )
        )

    # -- flags and purges --------------------------------------------------------------------

    async def flag(self, tenant: str, request_id: str) -> FlagResult | None:
        """Remove the entry that answered ``request_id``, a hit served to ``tenant`` (or
        below it). None when no such hit is known."""
        known = self._recent.get(request_id)
        if known is None:
            known = await asyncio.to_thread(hit_of_request, self.state_path, request_id)
        if known is None or not in_subtree(known[0], tenant):
            return None
        hit_tenant, entry = known
        removed = await asyncio.to_thread(delete_entry, self.state_path, entry)
        self.writer.count(hit_tenant, "", "flag")
        self._recent.pop(request_id, None)
        return FlagResult(request_id, removed, entry)

    async def purge(self, tenant: str, model: str | None = None) -> int:
        def run() -> tuple[int, set[tuple[str, str, str]]]:
            conn = open_db(self.state_path)
            try:
                return purge(conn, tenant, model)
            finally:
                conn.close()

        removed, parts = await asyncio.to_thread(run)
        if self._semantic is not None:
            self._semantic.forget(parts)
        return removed


def hit_of_request(state_path: Path, request_id: str) -> tuple[str, int] | None:
    """``(tenant, entry id)`` of a cache hit on the audit record."""
    conn = open_db(state_path, readonly=True)
    try:
        row = conn.execute(
            "SELECT tenant, attempt_log FROM audit_log WHERE id = ? AND provider = 'cache'",
            (request_id,),
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    attempts = orjson.loads(row[1] or "[]")
    entry = attempts[0].get("entry") if attempts else None
    return (str(row[0]), int(entry)) if isinstance(entry, int) else None


def delete_entry(state_path: Path, entry: int) -> bool:
    conn = open_db(state_path)
    try:
        return conn.execute("DELETE FROM cache_entries WHERE id = ?", (entry,)).rowcount > 0
    finally:
        conn.close()

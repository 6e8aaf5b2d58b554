"""The SQLite schema of the state file, as an ordered list of migrations.

Each migration is plain SQL with a version number. ``apply_migrations`` runs, in order, every
migration whose version is above the one recorded in ``schema_version``, each in its own
``BEGIN IMMEDIATE`` transaction together with the row that records it, so a crash never leaves
a half-applied migration and two processes opening the same file never apply one twice.

Adding a table or column later is one step: append a ``Migration`` to ``MIGRATIONS`` with the
next version number. Never edit or reorder a migration that has shipped; a state file
created by an older build picks up the new ones on its next read-write open. Statements in a
migration are separated by ``;`` at the end of a line (``CREATE TRIGGER`` bodies are fine:
statements are split with ``sqlite3.complete_statement``).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Migration:
    """One schema step: ``version`` is its place in the order (1, 2, 3, ...)."""

    version: int
    name: str
    sql: str


_KEYS_AND_AUDIT = """
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,                -- 'key_' + 12 hex
    tenant TEXT NOT NULL,               -- tenant path, e.g. 'acme/search'
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,          -- sha256 hex of the secret; the secret is never stored
    prefix TEXT NOT NULL,               -- first 14 chars of the secret, for display
    created_at REAL NOT NULL,
    revoked_at REAL NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order
    id TEXT NOT NULL,                   -- request id ('req_' + 26 chars)
    ts REAL NOT NULL,                   -- unix seconds when the call arrived
    tenant TEXT NOT NULL DEFAULT '',
    key_id TEXT,
    api TEXT,                           -- 'openai' | 'anthropic'
    requested_model TEXT,
    provider TEXT,
    served_model TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    attempt_log TEXT NOT NULL DEFAULT '[]',  -- JSON list of attempts
    status INTEGER NOT NULL,            -- HTTP status answered
    outcome TEXT NOT NULL,              -- 'ok' | 'error' | 'rejected' | 'aborted'
    error_class TEXT,
    error_message TEXT,
    ttft_ms REAL,
    latency_ms REAL NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    usage_estimated INTEGER NOT NULL DEFAULT 0,
    cost_nanos INTEGER NOT NULL DEFAULT 0,  -- 1e-9 USD
    stream INTEGER NOT NULL DEFAULT 0,
    request_body TEXT,
    response_body TEXT,
    retention TEXT NOT NULL DEFAULT 'full'  -- 'full' | 'redacted' | 'metadata'
);
CREATE UNIQUE INDEX audit_log_id ON audit_log (id);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE INDEX audit_log_tenant_ts ON audit_log (tenant, ts);
CREATE INDEX audit_log_requested_model ON audit_log (requested_model);
CREATE INDEX audit_log_status ON audit_log (status);
"""

_BREAKERS = """
CREATE TABLE breakers (
    deployment TEXT PRIMARY KEY,        -- deployment id, 'provider/model'
    snapshot TEXT NOT NULL,             -- JSON of CircuitBreaker.snapshot()
    updated_at REAL                     -- unix seconds of the last save
);

CREATE TABLE breaker_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL,
    at REAL NOT NULL,                   -- unix seconds of the transition
    from_state TEXT NOT NULL,           -- 'closed' | 'open' | 'half_open'
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX breaker_events_deployment_at ON breaker_events (deployment, at);
"""

_TENANT_LIMITS = """
CREATE TABLE tenant_limits (
    tenant TEXT PRIMARY KEY,            -- tenant path whose limits an operator set at run time
    limits TEXT NOT NULL,               -- JSON of TenantLimits fields (money as decimal strings)
    updated_at REAL                     -- unix seconds of the last change
);

CREATE TABLE tenant_limits_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL            -- bumped by every change to tenant_limits
);
INSERT INTO tenant_limits_version (id, version) VALUES (1, 0);

CREATE TRIGGER tenant_limits_insert AFTER INSERT ON tenant_limits
BEGIN
    UPDATE tenant_limits_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER tenant_limits_update AFTER UPDATE ON tenant_limits
BEGIN
    UPDATE tenant_limits_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER tenant_limits_delete AFTER DELETE ON tenant_limits
BEGIN
    UPDATE tenant_limits_version SET version = version + 1 WHERE id = 1;
END;
"""

_BUDGET_ALERTS = """
CREATE TABLE budget_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,                   -- unix seconds
    node TEXT NOT NULL,                 -- tenant path
    budget TEXT NOT NULL,               -- budget key (month, day:gpt-4o, window3600)
    period TEXT NOT NULL,               -- period id (2026-11, 2026-11-23, w123)
    threshold REAL NOT NULL,            -- 0.5, 0.8, 1.0
    spent_nanos INTEGER NOT NULL,
    limit_nanos INTEGER NOT NULL,
    hard INTEGER NOT NULL,
    payload TEXT NOT NULL               -- the alert as JSON (burn rate, projected exhaustion)
);
CREATE INDEX budget_alerts_node ON budget_alerts (node, at);
"""

_REPLAY_RUNS = """
CREATE TABLE replay_runs (
    name TEXT PRIMARY KEY,              -- run name; shadow runs are 'shadow:<model>'
    created_at REAL NOT NULL,           -- unix seconds
    target TEXT NOT NULL,               -- public model the originals were sent to
    source_filter TEXT NOT NULL DEFAULT '{}',  -- JSON of the audit filters that chose them
    status TEXT NOT NULL,               -- 'running' | 'done' | 'stopped' | 'shadow'
    kind TEXT NOT NULL DEFAULT 'replay',  -- 'replay' | 'shadow'
    max_cost_nanos INTEGER,             -- spend cap (1e-9 USD); NULL = none
    updated_at REAL                     -- unix seconds of the last status change
);

CREATE TABLE replay_results (
    run TEXT NOT NULL REFERENCES replay_runs (name) ON DELETE CASCADE,
    original_id TEXT NOT NULL,          -- audit_log.id of the recorded call
    status TEXT NOT NULL,               -- 'ok' | 'error'
    latency_ms REAL,
    ttft_ms REAL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nanos INTEGER NOT NULL DEFAULT 0,  -- 1e-9 USD
    response_body TEXT,                 -- in the original's inbound API format
    error_class TEXT,
    finished_at REAL NOT NULL,
    PRIMARY KEY (run, original_id)
);
"""

_AUDIT_CHAIN = """
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;  -- hash of the row before (64 zeros: first)
ALTER TABLE audit_log ADD COLUMN hash TEXT;       -- sha256 hex, see llmgw.audit.chain

CREATE TABLE audit_checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,           -- unix seconds when the prune ran
    cut_ts REAL NOT NULL,               -- rows older than this were eligible
    last_seq INTEGER NOT NULL,          -- seq of the last pruned row
    last_hash TEXT NOT NULL,            -- its hash: the next row's prev_hash
    pruned INTEGER NOT NULL,            -- rows deleted by this prune
    key_id TEXT NOT NULL,               -- sha256 hex prefix of the signing key
    signature TEXT NOT NULL             -- HMAC-SHA256 hex, see llmgw.audit.prune
);
"""

_RESPONSE_CACHE = """
CREATE TABLE cache_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,                -- 'key:<id>' | 'tenant:<path>' | 'team:<a/b>' | 'org:<a>'
    tenant TEXT NOT NULL,               -- tenant path of the call that stored it
    model TEXT NOT NULL,                -- public model name
    key TEXT NOT NULL,                  -- exact key, sha256 hex (llmgw.cache.keys)
    context TEXT,                       -- semantic partition hash; NULL: exact only
    prompt TEXT,                        -- the question matched by meaning; NULL: exact only
    embedding BLOB,                     -- float32 vector of prompt; NULL: exact only
    embedder TEXT,                      -- the model that made it
    answer TEXT NOT NULL,               -- JSON of llmgw.cache.entry.CachedAnswer
    cost_nanos INTEGER NOT NULL,        -- what the original call cost (1e-9 USD)
    tokens INTEGER NOT NULL,            -- its input + output tokens
    size INTEGER NOT NULL,              -- bytes held (answer, prompt, vector)
    source_request TEXT NOT NULL,       -- audit_log.id of the call that produced it
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    last_used_at REAL NOT NULL,         -- for least-recently-used eviction
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX cache_entries_key ON cache_entries (scope, key);
CREATE INDEX cache_entries_partition ON cache_entries (scope, model, context);
CREATE INDEX cache_entries_lru ON cache_entries (last_used_at);
CREATE INDEX cache_entries_expiry ON cache_entries (expires_at);
CREATE INDEX cache_entries_tenant ON cache_entries (tenant, model);

CREATE TABLE cache_counters (
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- 'hit-exact' | 'hit-semantic' | 'miss' | 'bypass' | 'flag'
    calls INTEGER NOT NULL DEFAULT 0,
    saved_tokens INTEGER NOT NULL DEFAULT 0,
    saved_nanos INTEGER NOT NULL DEFAULT 0,  -- 1e-9 USD
    PRIMARY KEY (tenant, model, kind)
);

CREATE TABLE cache_vectors (
    scope TEXT NOT NULL,
    model TEXT NOT NULL,
    context TEXT NOT NULL,
    embedder TEXT NOT NULL,
    upto INTEGER NOT NULL,              -- highest cache_entries.id the saved index holds
    data BLOB NOT NULL,                 -- llmgw.cache.vectors.VectorIndex.to_bytes()
    saved_at REAL NOT NULL,
    PRIMARY KEY (scope, model, context)
);
"""

# Append new migrations here, with the next version number.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "api keys and audit log", _KEYS_AND_AUDIT),
    Migration(2, "circuit breakers", _BREAKERS),
    Migration(3, "tenant limit overrides", _TENANT_LIMITS),
    Migration(4, "budget alerts", _BUDGET_ALERTS),
    Migration(5, "replay runs and results", _REPLAY_RUNS),
    Migration(6, "audit hash chain and checkpoints", _AUDIT_CHAIN),
    Migration(7, "response cache", _RESPONSE_CACHE),
)


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (a statement ends with ``;`` at a line end)."""
    statements: list[str] = []
    buf: list[str] = []
    for line in sql.splitlines(keepends=True):
        buf.append(line)
        text = "".join(buf)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            buf = []
    rest = "".join(buf).strip()
    if rest and not all(ln.strip().startswith("--") or not ln.strip() for ln in rest.splitlines()):
        raise ValueError(f"incomplete SQL statement in migration: {rest[:80]!r}")
    return statements


def current_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration version (0 for a new file)."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    value = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    return int(value or 0)


def apply_migrations(
    conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS
) -> int:
    """Bring ``conn``'s schema up to date; returns the version it is at afterwards.

    ``conn`` must be in autocommit mode (``isolation_level=None``), as ``open_db`` makes it.
    """
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migration versions must be unique and increasing")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    version = current_version(conn)
    for migration in migrations:
        if migration.version <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # another process may have applied it while we waited for the write lock
            if current_version(conn) >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        version = migration.version
    return current_version(conn)

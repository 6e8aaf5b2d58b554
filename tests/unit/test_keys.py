"""Virtual keys and the state file they live in (schema, migrations, pragmas)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmgw.store.db import open_db, transaction
from llmgw.store.keys import KeyStore, hash_key, validate_tenant
from llmgw.store.schema import MIGRATIONS, Migration, apply_migrations, split_statements


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "state.db")
    yield c
    c.close()


# -- state file ----------------------------------------------------------------------------


def test_open_db_creates_dirs_sets_pragmas_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    c = open_db(path)
    try:
        assert path.exists()
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert c.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"schema_version", "api_keys", "audit_log"} <= tables
        versions = [r[0] for r in c.execute("SELECT version FROM schema_version")]
        assert versions == [m.version for m in MIGRATIONS]
    finally:
        c.close()
    # opening again applies nothing twice
    c = open_db(path)
    try:
        assert c.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        c.close()


def test_audit_log_has_the_promised_indexes(conn: sqlite3.Connection) -> None:
    indexed = {
        tuple(r["name"] for r in conn.execute(f"PRAGMA index_info('{idx['name']}')"))
        for idx in conn.execute("PRAGMA index_list('audit_log')")
    }
    assert {("ts",), ("tenant", "ts"), ("requested_model",), ("status",), ("id",)} <= indexed


def test_readonly_never_creates_or_writes(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(sqlite3.OperationalError):
        open_db(missing, readonly=True)
    assert not missing.exists()
    open_db(tmp_path / "s.db").close()
    ro = open_db(tmp_path / "s.db", readonly=True)
    try:
        assert ro.execute("SELECT count(*) FROM api_keys").fetchone()[0] == 0
        with pytest.raises(sqlite3.OperationalError):
            ro.execute("DELETE FROM api_keys")
    finally:
        ro.close()


def test_appended_migration_is_applied_once_and_in_order(conn: sqlite3.Connection) -> None:
    extra = (
        *MIGRATIONS,
        Migration(
            MIGRATIONS[-1].version + 1,
            "budgets",
            """
            CREATE TABLE budgets (tenant TEXT PRIMARY KEY, limit_nanos INTEGER NOT NULL);
            CREATE TRIGGER budgets_positive BEFORE INSERT ON budgets
            WHEN NEW.limit_nanos < 0 BEGIN SELECT RAISE(ABORT, 'negative'); END;
            """,
        ),
    )
    assert apply_migrations(conn, extra) == MIGRATIONS[-1].version + 1
    assert apply_migrations(conn, extra) == MIGRATIONS[-1].version + 1
    conn.execute("INSERT INTO budgets VALUES ('acme', 5)")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO budgets VALUES ('beta', -1)")


def test_failed_migration_leaves_nothing_behind(conn: sqlite3.Connection) -> None:
    broken = (
        *MIGRATIONS,
        Migration(99, "broken", "CREATE TABLE half (x);\nCREATE TABLE api_keys (y);"),
    )
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(conn, broken)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half" not in tables
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == (
        MIGRATIONS[-1].version
    )


def test_migration_versions_must_increase(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="increasing"):
        apply_migrations(conn, (Migration(2, "b", "SELECT 1;"), Migration(1, "a", "SELECT 1;")))


def test_split_statements_keeps_trigger_bodies_whole() -> None:
    sql = "CREATE TABLE t (x);\nCREATE TRIGGER g AFTER INSERT ON t BEGIN\n  SELECT 1;\nEND;\n"
    assert len(split_statements(sql)) == 2
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE t (x)")


def test_transaction_rolls_back_on_error(conn: sqlite3.Connection) -> None:
    store = KeyStore(conn)
    with pytest.raises(RuntimeError), transaction(conn):
        store.create("acme", "a")
        raise RuntimeError("boom")
    assert store.list(include_revoked=True) == []


# -- keys ----------------------------------------------------------------------------------


def test_create_returns_secret_once_and_stores_only_its_hash(conn: sqlite3.Connection) -> None:
    rec, secret = KeyStore(conn).create("acme/search", "ci bot")
    assert secret.startswith("sk-llmgw-") and len(secret) == 9 + 43
    assert rec.id.startswith("key_") and len(rec.id) == 16
    int(rec.id[4:], 16)
    assert rec.prefix == secret[:14]
    assert (rec.tenant, rec.name, rec.revoked_at) == ("acme/search", "ci bot", None)
    row = conn.execute("SELECT * FROM api_keys").fetchone()
    assert row["hash"] == hashlib.sha256(secret.encode()).hexdigest() == hash_key(secret)
    assert all(secret not in str(value) for value in tuple(row))


def test_active_by_hash_authenticates_and_forgets_revoked(conn: sqlite3.Connection) -> None:
    store = KeyStore(conn)
    a, secret_a = store.create("acme", "a")
    b, secret_b = store.create("beta", "b")
    table = store.active_by_hash()
    assert table[hash_key(secret_a)] == a
    assert table[hash_key(secret_b)] == b
    assert hash_key("sk-llmgw-wrong") not in table
    store.revoke(a.id)
    table = store.active_by_hash()
    assert hash_key(secret_a) not in table and table[hash_key(secret_b)] == b


def test_keys_are_unique(conn: sqlite3.Connection) -> None:
    store = KeyStore(conn)
    made = [store.create("acme", f"k{i}") for i in range(50)]
    assert len({r.id for r, _ in made}) == 50
    assert len({s for _, s in made}) == 50


def test_list_filters_by_tenant_subtree_and_revocation(conn: sqlite3.Connection) -> None:
    store = KeyStore(conn)
    acme, _ = store.create("acme", "root")
    search, _ = store.create("acme/search", "search")
    acme2, _ = store.create("acme2", "other")
    under, _ = store.create("acme_x", "underscore")
    store.revoke(search.id)
    assert [r.id for r in store.list()] == [acme.id, acme2.id, under.id]
    assert [r.id for r in store.list("acme")] == [acme.id]
    assert [r.id for r in store.list("acme", include_revoked=True)] == [acme.id, search.id]
    assert [r.id for r in store.list("acme/search", include_revoked=True)] == [search.id]
    assert store.list("nobody", include_revoked=True) == []
    revoked = store.list("acme/search", include_revoked=True)[0]
    assert revoked.revoked_at is not None and not revoked.active


def test_revoke_is_idempotent_and_unknown_ids_fail_clearly(conn: sqlite3.Connection) -> None:
    store = KeyStore(conn)
    rec, _ = store.create("acme", "a")
    first = store.revoke(rec.id)
    assert first.revoked_at is not None
    assert store.revoke(rec.id).revoked_at == first.revoked_at
    with pytest.raises(KeyError, match="no key with id 'key_000000000000'"):
        store.revoke("key_000000000000")


@pytest.mark.parametrize("tenant", ["acme", "acme/search", "a-b_c/0/x-9"])
def test_valid_tenants(tenant: str) -> None:
    assert validate_tenant(tenant) == tenant


@pytest.mark.parametrize("tenant", ["", "Acme", "acme/", "/acme", "acme//x", "ac me", "acme.x"])
def test_invalid_tenants_are_refused(conn: sqlite3.Connection, tenant: str) -> None:
    with pytest.raises(ValueError, match="invalid tenant"):
        KeyStore(conn).create(tenant, "k")


def test_empty_name_is_refused(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="name"):
        KeyStore(conn).create("acme", "   ")

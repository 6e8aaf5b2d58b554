"""Virtual API keys: created per tenant, stored only as a sha256 hash, revoked by id.

A secret is ``sk-llmgw-`` followed by 43 url-safe characters (32 random bytes). It is shown
once at creation; the table keeps its sha256 (for lookup) and its first 14 characters (so a
person can tell keys apart). The gateway loads ``active_by_hash()`` into memory and
authenticates a request with one sha256 and one dict lookup; a hash it does not know yet is
looked up with ``find_active``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

SECRET_PREFIX = "sk-llmgw-"
DISPLAY_PREFIX_LEN = 14
MAX_NAME_LEN = 200

_TENANT_RE = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*")


@dataclass(slots=True, frozen=True)
class KeyRecord:
    """A key as stored (without its secret). ``revoked_at`` is None while it is active."""

    id: str
    tenant: str
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(secret: str) -> str:
    """The sha256 hex digest under which a secret is stored and looked up."""
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_tenant(tenant: str) -> str:
    """Return ``tenant`` if it is a path of ``[a-z0-9_-]`` segments joined by ``/``."""
    if not isinstance(tenant, str) or not _TENANT_RE.fullmatch(tenant):
        raise ValueError(
            f"invalid tenant {tenant!r}: use segments of a-z, 0-9, '_' or '-' joined by '/' "
            "(e.g. 'acme/search')"
        )
    return tenant


def tenant_bounds(tenant: str) -> tuple[str, str]:
    """Bounds ``(lo, hi)`` such that ``lo <= t < hi`` holds for paths strictly below ``tenant``.

    ``'0'`` is the character right after ``'/'``, so ``'acme/' <= t < 'acme0'`` selects
    ``acme/…`` and nothing else (not ``acme2``), and it can use an index.
    """
    return tenant + "/", tenant + "0"


_COLUMNS = "id, tenant, name, prefix, created_at, revoked_at"


def _record(row: sqlite3.Row | tuple[object, ...]) -> KeyRecord:
    id_, tenant, name, prefix, created_at, revoked_at = tuple(row)
    return KeyRecord(
        id=str(id_),
        tenant=str(tenant),
        name=str(name),
        prefix=str(prefix),
        created_at=float(created_at),
        revoked_at=None if revoked_at is None else float(revoked_at),
    )


class KeyStore:
    """Key operations on an open state connection from ``llmgw.store.db.open_db``.

    Every write is one statement on that autocommit connection, so it commits on its own, or
    with the enclosing ``llmgw.store.db.transaction`` when there is one.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def create(self, tenant: str, name: str) -> tuple[KeyRecord, str]:
        """Create a key for ``tenant``; returns the record and the secret (never stored)."""
        validate_tenant(tenant)
        name = name.strip()
        if not name:
            raise ValueError("key name must not be empty")
        if len(name) > MAX_NAME_LEN:
            raise ValueError(f"key name is longer than {MAX_NAME_LEN} characters")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(
            id="key_" + secrets.token_hex(6),
            tenant=tenant,
            name=name,
            prefix=secret[:DISPLAY_PREFIX_LEN],
            created_at=time.time(),
        )
        self._conn.execute(
            "INSERT INTO api_keys (id, tenant, name, hash, prefix, created_at, revoked_at) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (
                record.id,
                record.tenant,
                record.name,
                hash_key(secret),
                record.prefix,
                record.created_at,
            ),
        )
        return record, secret

    def get(self, key_id: str) -> KeyRecord | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)
        ).fetchone()
        return None if row is None else _record(row)

    def list(self, tenant: str | None = None, include_revoked: bool = False) -> list[KeyRecord]:
        """Keys of ``tenant`` and the tenants below it (all tenants if None), oldest first."""
        where: list[str] = []
        params: list[object] = []
        if tenant is not None:
            lo, hi = tenant_bounds(tenant)
            where.append("(tenant = ? OR (tenant >= ? AND tenant < ?))")
            params += [tenant, lo, hi]
        if not include_revoked:
            where.append("revoked_at IS NULL")
        sql = f"SELECT {_COLUMNS} FROM api_keys"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id"
        return [_record(r) for r in self._conn.execute(sql, params)]

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key (idempotent: an already revoked key keeps its first ``revoked_at``)."""
        self._conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (time.time(), key_id),
        )
        record = self.get(key_id)
        if record is None:
            raise KeyError(f"no key with id {key_id!r}")
        return record

    def find_active(self, key_hash: str) -> KeyRecord | None:
        """The active key stored under ``key_hash`` (one lookup in the unique index on hash)."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (key_hash,)
        ).fetchone()
        return None if row is None else _record(row)

    def active_by_hash(self) -> dict[str, KeyRecord]:
        """Every active key by the sha256 of its secret: the gateway's authentication table."""
        rows = self._conn.execute(
            f"SELECT hash, {_COLUMNS} FROM api_keys WHERE revoked_at IS NULL"
        ).fetchall()
        return {str(r[0]): _record(tuple(r)[1:]) for r in rows}

"""Pruning old audit rows without breaking the chain: signed checkpoints.

``prune`` deletes, in one ``BEGIN IMMEDIATE`` transaction, the oldest rows of the log (a prefix
in ``seq`` order: every row up to the first one not older than the cut, so that what stays is
one unbroken chain) and first records an ``audit_checkpoints`` row: the hash and seq of the
last pruned row, how many were pruned, the cut and the time, signed with HMAC-SHA256.
``llmgw.audit.verify`` starts from the newest checkpoint: it checks the signature, then that
the first kept row links to the checkpoint's hash.

The signing key: ``$LLMGW_AUDIT_KEY`` (its UTF-8 bytes) when set; otherwise 32 random bytes
generated on the first prune and kept, hex-encoded, in ``audit.key`` next to the state file,
created with mode 0600. Keep that file (or the variable) with the state: without it, old
checkpoints can no longer be checked.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import orjson

from llmgw.audit.chain import GENESIS
from llmgw.settings.audit import DEFAULT_KEY_ENV

CHECKPOINT_DOMAIN = b"llmgw-audit-checkpoint-v1\0"
KEY_FILE = "audit.key"


class KeyMissing(RuntimeError):
    """No checkpoint key: neither the environment variable nor the key file exists."""


def key_path(state: Path) -> Path:
    """Where the generated checkpoint key lives for the state file ``state``."""
    return Path(state).parent / KEY_FILE


def load_key(state: Path, *, create: bool, env: str = DEFAULT_KEY_ENV) -> bytes:
    """The checkpoint signing key (see the module docstring).

    With ``create`` a missing key file is generated (mode 0600, never overwritten: a
    concurrent creator's key wins); without it a missing key raises ``KeyMissing``.
    """
    value = os.environ.get(env)
    if value:
        return value.encode()
    path = key_path(state)
    if not path.exists():
        if not create:
            raise KeyMissing(f"no checkpoint key: set ${env} or restore {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def key_id(key: bytes) -> str:
    """A short public name of a key (sha256 prefix), stored with each checkpoint."""
    return hashlib.sha256(b"llmgw-audit-key\0" + key).hexdigest()[:16]


@dataclass(slots=True, frozen=True)
class Checkpoint:
    """What a prune left behind; ``signature`` covers every other field but ``id``."""

    created_at: float
    cut_ts: float
    last_seq: int
    last_hash: str
    pruned: int
    key_id: str
    signature: str = ""
    id: int = 0

    def message(self) -> bytes:
        """The signed bytes: domain + canonical JSON of the signed fields."""
        fields = asdict(self)
        del fields["signature"], fields["id"]
        return CHECKPOINT_DOMAIN + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)

    def signed(self, key: bytes) -> Checkpoint:
        sig = hmac.new(key, self.message(), hashlib.sha256).hexdigest()
        return Checkpoint(**{**asdict(self), "signature": sig})

    def valid(self, key: bytes) -> bool:
        expected = hmac.new(key, self.message(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.signature)


_CP_COLUMNS = "id, created_at, cut_ts, last_seq, last_hash, pruned, key_id, signature"


def latest_checkpoint(conn: sqlite3.Connection) -> Checkpoint | None:
    """The newest checkpoint, or None if the log was never pruned."""
    row = conn.execute(
        f"SELECT {_CP_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    id_, created_at, cut_ts, last_seq, last_hash, pruned, kid, sig = tuple(row)
    return Checkpoint(
        float(created_at), float(cut_ts), int(last_seq), str(last_hash), int(pruned), kid, sig, id_
    )


@dataclass(slots=True, frozen=True)
class PrunePlan:
    """What a prune at ``cut_ts`` would delete: seqs ``first_seq..last_seq``, ``count`` rows."""

    cut_ts: float
    count: int
    first_seq: int | None
    last_seq: int | None
    oldest_ts: float | None
    newest_ts: float | None


def plan(conn: sqlite3.Connection, cut_ts: float) -> PrunePlan:
    """The prefix of the log older than ``cut_ts`` (read-only)."""
    keep = conn.execute("SELECT min(seq) FROM audit_log WHERE ts >= ?", (cut_ts,)).fetchone()[0]
    bound = "seq < ?" if keep is not None else "1"
    params = (keep,) if keep is not None else ()
    count, first, last, oldest, newest = conn.execute(
        f"SELECT count(*), min(seq), max(seq), min(ts), max(ts) FROM audit_log WHERE {bound}",
        params,
    ).fetchone()
    return PrunePlan(cut_ts, int(count), first, last, oldest, newest)


def prune(
    conn: sqlite3.Connection, cut_ts: float, key: bytes, *, now: float | None = None
) -> tuple[PrunePlan, Checkpoint | None]:
    """Delete the prefix older than ``cut_ts`` after writing its signed checkpoint, all in
    one transaction. Returns the plan carried out and the checkpoint (None: nothing to do).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = plan(conn, cut_ts)
        if done.count == 0 or done.last_seq is None:
            conn.execute("ROLLBACK")
            return done, None
        last_hash = conn.execute(
            "SELECT hash FROM audit_log WHERE seq = ?", (done.last_seq,)
        ).fetchone()[0]
        cp = Checkpoint(
            created_at=time.time() if now is None else now,
            cut_ts=float(cut_ts),
            last_seq=int(done.last_seq),
            last_hash=last_hash or GENESIS,
            pruned=done.count,
            key_id=key_id(key),
        ).signed(key)
        cur = conn.execute(
            "INSERT INTO audit_checkpoints (created_at, cut_ts, last_seq, last_hash, pruned, "
            "key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                cp.created_at,
                cp.cut_ts,
                cp.last_seq,
                cp.last_hash,
                cp.pruned,
                cp.key_id,
                cp.signature,
            ),
        )
        cp = replace(cp, id=int(cur.lastrowid or 0))
        conn.execute("DELETE FROM audit_log WHERE seq <= ?", (done.last_seq,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return done, cp

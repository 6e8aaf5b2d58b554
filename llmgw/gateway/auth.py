"""Virtual-key authentication: one sha256 and one dict lookup per request.

Active keys live in memory, reloaded from SQLite by a background thread every
``refresh_s`` seconds, so ``llmgw keys create`` / ``revoke`` on a running gateway take effect
within that time without any I/O on the request path.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from llmgw.errors import AuthenticationFailed
from llmgw.gateway.asgi import Scope
from llmgw.store.db import open_db
from llmgw.store.keys import KeyRecord, KeyStore

log = logging.getLogger("llmgw.auth")

DEFAULT_REFRESH_S = 1.0


def presented_key(scope: Scope) -> str | None:
    """The key from ``Authorization: Bearer …`` or ``x-api-key`` (Anthropic style)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
            return None
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
    return None


class KeyTable:
    """The in-memory table of active keys, kept fresh from the state database."""

    def __init__(self, state: Path, refresh_s: float = DEFAULT_REFRESH_S) -> None:
        self._state = state
        self._refresh_s = refresh_s
        self._by_hash: dict[str, KeyRecord] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reload()

    def reload(self) -> None:
        conn = open_db(self._state)
        try:
            self._by_hash = KeyStore(conn).active_by_hash()
        finally:
            conn.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmgw-keys", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._refresh_s):
            try:
                self.reload()
            except Exception:  # keep serving with the last good table
                log.exception("reloading keys failed")

    def authenticate(self, scope: Scope) -> KeyRecord:
        secret = presented_key(scope)
        if not secret:
            raise AuthenticationFailed(
                "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
            )
        record = self._by_hash.get(hashlib.sha256(secret.encode()).hexdigest())
        if record is None:
            raise AuthenticationFailed("invalid API key")
        return record

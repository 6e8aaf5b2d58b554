"""Read audit rows written by a running gateway (the writer commits within milliseconds)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any


def audit_row(state: Path, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM audit_log WHERE id = ?", (request_id,)).fetchone()
        finally:
            conn.close()
        if row is not None:
            return dict(row)
        if time.monotonic() > deadline:
            raise AssertionError(f"no audit row for {request_id} after {timeout}s")
        time.sleep(0.02)

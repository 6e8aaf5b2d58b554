"""A tiny admin API on 127.0.0.1 serving fixed data in the gateway's shapes, for TUI tests.

It answers the views the TUI reads (tenants, one tenant, deployments, cache, calls and the SSE
call stream) and records every action (POST/DELETE) it receives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ADMIN_KEY = "fake-admin-key"
T0 = 1_790_000_000.0  # a fixed instant, so screenshots are the same on every run
USD = 10**9


def budget(key: str, limit_usd: int, used_pct: float) -> dict[str, Any]:
    limit = limit_usd * USD
    return {
        "key": key,
        "period": "2026-09",
        "limit_nanos": limit,
        "spent_nanos": int(limit * used_pct / 100),
        "hard": True,
        "used_pct": used_pct,
        "projected_exhaustion_at": None,
    }


def tenant(name: str, rpm: int, today_usd: float, burn_usd: float, pct: float | None) -> dict:
    return {
        "tenant": name,
        "requests_per_min": rpm,
        "tokens_per_min": rpm * 350,
        "rejections_per_min": rpm // 20,
        "errors_per_min": rpm // 50,
        "spend_today_nanos": int(today_usd * USD),
        "spend_month_nanos": int(today_usd * 9 * USD),
        "burn_per_hour_nanos": int(burn_usd * USD),
        "budgets": [] if pct is None else [budget("month", 500, pct)],
        "spark": [(i * rpm) % 17 for i in range(30)],
    }


TENANTS = [
    tenant("acme", 120, 41.5, 3.2, 30.0),
    tenant("acme/search", 300, 12.25, 9.75, 65.0),
    tenant("globex", 45, 88.0, 1.1, 92.5),
    tenant("initech", 10, 0.004, 0.0, None),
    tenant("umbrella", 75, 5.0, 4.4, 12.0),
]

DEPLOYMENTS = [
    {
        "deployment": "openai/gpt-4o-mini",
        "state": "closed",
        "forced": None,
        "retry_after_s": 0.0,
        "error_rate": 0.012,
        "calls_per_min": 310,
        "in_flight": 4,
        "latency_p50_ms": 420.0,
        "latency_p99_ms": 1830.0,
        "ttft_p50_ms": 180.0,
        "ttft_p99_ms": 900.0,
        "transitions": [],
    },
    {
        "deployment": "anthropic/claude-haiku-4-5",
        "state": "half_open",
        "forced": None,
        "retry_after_s": 0.0,
        "error_rate": 0.21,
        "calls_per_min": 40,
        "in_flight": 1,
        "latency_p50_ms": 650.0,
        "latency_p99_ms": 4100.0,
        "ttft_p50_ms": 300.0,
        "ttft_p99_ms": 2100.0,
        "transitions": [
            {"at": T0 - 90, "from": "closed", "to": "open", "reason": "5 consecutive failures"},
            {"at": T0 - 60, "from": "open", "to": "half_open", "reason": "cooldown over"},
        ],
    },
    {
        "deployment": "gemini/gemini-2.5-flash",
        "state": "open",
        "forced": "open",
        "retry_after_s": 12.0,
        "error_rate": 0.0,
        "calls_per_min": 0,
        "in_flight": 0,
        "latency_p50_ms": None,
        "latency_p99_ms": None,
        "ttft_p50_ms": None,
        "ttft_p99_ms": None,
        "transitions": [
            {"at": T0 - 30, "from": "closed", "to": "open", "reason": "forced open by operator"}
        ],
    },
]


def call(i: int, tenant_name: str, model: str, status: int = 200) -> dict[str, Any]:
    outcome = "ok" if status == 200 else ("rejected" if status == 429 else "error")
    return {
        "id": f"req_{i:04d}",
        "ts": T0 - 60 + i,
        "tenant": tenant_name,
        "api": "openai",
        "model": model,
        "provider": "openai" if "gpt" in model else "anthropic",
        "served_model": model,
        "status": status,
        "outcome": outcome,
        "error_class": None
        if status == 200
        else ("rate_limited" if status == 429 else "overloaded"),
        "latency_ms": 100.0 + 10 * i,
        "ttft_ms": 50.0 + i,
        "tokens": 100 + i,
        "cost_nanos": 15_000 * (i + 1),
        "stream": i % 2 == 0,
    }


CALLS = [
    call(i, t, m, s)
    for i, (t, m, s) in enumerate(
        [
            ("acme", "gpt-4o-mini", 200),
            ("globex", "claude-haiku-4-5", 200),
            ("acme/search", "gpt-4o-mini", 429),
            ("umbrella", "claude-haiku-4-5", 503),
            ("acme", "claude-haiku-4-5", 200),
            ("globex", "gpt-4o-mini", 200),
        ]
    )
]
STREAMED = [call(10 + i, "initech", "gpt-4o-mini") for i in range(3)]


def tenant_detail(path: str) -> dict[str, Any] | None:
    row = next((t for t in TENANTS if t["tenant"] == path), None)
    if row is None:
        return None
    mine = [c for c in CALLS + STREAMED if c["tenant"] == path]
    return {
        **row,
        "keys": [
            {"id": "key_0123456789ab", "name": "prod", "prefix": "sk-llmgw-AbCd", "created_at": T0}
        ],
        "models": [{"model": "gpt-4o-mini", "requests": 42, "tokens": 4200, "cost_nanos": 630_000}],
        "calls": mine,
        "errors": [c for c in mine if c["outcome"] != "ok"],
    }


@dataclass
class FakeAdmin:
    url: str
    actions: list[tuple[str, str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def make_handler(state: FakeAdmin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorized(self) -> bool:
            if self.headers.get("authorization") != f"Bearer {ADMIN_KEY}":
                self._json(401, {"error": {"message": "admin key required"}})
                return False
            return True

        def do_GET(self) -> None:
            if not self._authorized():
                return
            path = self.path.split("?")[0]
            if path == "/admin/calls/stream":
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for c in STREAMED:
                    self.wfile.write(f"event: call\ndata: {json.dumps(c)}\n\n".encode())
                    self.wfile.flush()
                while not state.stop.wait(0.1):
                    pass
                self.close_connection = True
                return
            views: dict[str, Any] = {
                "/admin/tenants": {"tenants": TENANTS},
                "/admin/deployments": {"deployments": DEPLOYMENTS},
                "/admin/cache": {"enabled": True, "hit_rate": 0.25},
                "/admin/calls": {"calls": list(reversed(CALLS))},
            }
            if path in views:
                self._json(200, views[path])
                return
            if path.startswith("/admin/tenants/"):
                detail = tenant_detail(path[len("/admin/tenants/") :])
                if detail is not None:
                    self._json(200, detail)
                    return
            self._json(404, {"error": {"message": f"no admin route for GET {path}"}})

        def _action(self, method: str) -> None:
            if not self._authorized():
                return
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            state.actions.append((method, self.path, body))
            self._json(200, {"state": (body or {}).get("force") or "closed", "forced": None})

        def do_POST(self) -> None:
            self._action("POST")

        def do_DELETE(self) -> None:
            self._action("DELETE")

    return Handler


@contextmanager
def fake_admin() -> Iterator[FakeAdmin]:
    """Serve the fake admin API on a free loopback port for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(FakeAdmin("")))
    state = FakeAdmin(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = make_handler(state)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)

"""Where the TUI's data comes from: a running gateway's admin API, or a state file.

Both sources hand the app the admin API's JSON shapes (plain dicts), so the widgets never care
which one is behind them:

* ``AdminSource(url, key)`` asks ``/admin/tenants``, ``/admin/deployments``, ``/admin/cache``
  and ``/admin/calls`` over async httpx and follows ``/admin/calls/stream`` (SSE). A gateway
  without the newer views still works: deployments fall back to ``/admin/breakers`` and the
  call tail to polling; missing views are reported in ``Snapshot.missing``.
* ``StateSource(path)`` (in ``llmgw.tui.state_source``) reads a state file read-only and has
  no actions.

Every failure the user can fix surfaces as ``SourceError`` with a one-line message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

from llmgw.wire.sse import SseParser

Row = dict[str, Any]

POLL_S = 0.5
CALLS_LIMIT = 200
OUTAGE_S = 60.0


class SourceError(Exception):
    """A failure to show the operator as one line (unreachable gateway, refused key, ...)."""


@dataclass(slots=True)
class Snapshot:
    """One refresh worth of data: tenants, deployments, cache stats, and views not available."""

    tenants: list[Row] = field(default_factory=list)
    deployments: list[Row] = field(default_factory=list)
    cache: Row | None = None
    missing: list[str] = field(default_factory=list)


class Source(Protocol):
    """What the app needs from a data source."""

    label: str
    read_only: bool

    async def snapshot(self) -> Snapshot: ...

    async def tenant(self, path: str) -> Row: ...

    async def recent_calls(self, limit: int = CALLS_LIMIT) -> list[Row]: ...

    def call_stream(self) -> AsyncIterator[Row]: ...

    async def force_breaker(self, deployment: str, force: str | None) -> Row: ...

    async def inject_outage(self, deployment: str, for_s: float = OUTAGE_S) -> Row: ...

    async def close(self) -> None: ...


def breaker_to_deployment(row: Row) -> Row:
    """Map an ``/admin/breakers`` row onto the ``/admin/deployments`` shape."""
    stats = row.get("stats") or {}
    health = row.get("health") or {}
    latency = health.get("latency_ms")
    ttft = health.get("ttft_ms")
    return {
        "deployment": row.get("deployment", "?"),
        "state": row.get("state", "closed"),
        "forced": row.get("forced"),
        "retry_after_s": row.get("retry_after_s", 0.0),
        "error_rate": health.get("error_rate", stats.get("failure_rate", 0.0)),
        "calls_per_min": None,
        "in_flight": health.get("in_flight", 0),
        "latency_p50_ms": latency,
        "latency_p99_ms": None,
        "ttft_p50_ms": ttft,
        "ttft_p99_ms": None,
        "transitions": row.get("transitions") or [],
    }


def check_gateway(url: str, key: str, timeout: float = 5.0) -> None:
    """Fail fast (``SourceError``) when the gateway is unreachable or refuses the key."""
    try:
        resp = httpx.get(
            url.rstrip("/") + "/admin/breakers",
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot reach the gateway at {url}: {exc}") from None
    if resp.status_code in (401, 403):
        raise SourceError(f"the gateway refused the admin key ({resp.status_code})")
    if resp.status_code >= 400:
        raise SourceError(f"the gateway answered {resp.status_code} to /admin/breakers")


class AdminSource:
    """A running gateway's admin API, over one async httpx client made on first use."""

    read_only = False

    def __init__(self, url: str, key: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.label = self.url
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=self.timeout,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _request(self, method: str, path: str, body: Any = None) -> Any | None:
        """JSON answer, ``None`` for 404 (a view this gateway lacks); else ``SourceError``."""
        try:
            resp = await self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach the gateway at {self.url}: {exc!r}") from None
        if resp.status_code in (401, 403):
            raise SourceError(f"the gateway refused the admin key ({resp.status_code})")
        if resp.status_code == 404 and method == "GET":
            return None
        if resp.status_code >= 400:
            try:
                message = resp.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = resp.text[:200]
            raise SourceError(f"{method} {path}: {resp.status_code} {message}")
        try:
            return resp.json()
        except ValueError:
            return {}

    async def snapshot(self) -> Snapshot:
        tenants, deployments, cache = await asyncio.gather(
            self._request("GET", "/admin/tenants"),
            self._request("GET", "/admin/deployments"),
            self._request("GET", "/admin/cache"),
        )
        snap = Snapshot(cache=cache)
        if tenants is None:
            snap.missing.append("tenants")
        else:
            snap.tenants = list(tenants.get("tenants", []))
        if deployments is None:
            breakers = await self._request("GET", "/admin/breakers")
            rows = (breakers or {}).get("breakers", [])
            snap.deployments = [breaker_to_deployment(r) for r in rows]
        else:
            snap.deployments = list(deployments.get("deployments", []))
        if cache is None:
            snap.missing.append("cache")
        return snap

    async def tenant(self, path: str) -> Row:
        answer = await self._request("GET", f"/admin/tenants/{path}")
        if answer is None:
            raise SourceError(f"no tenant view for {path!r} on this gateway")
        return dict(answer)

    async def recent_calls(self, limit: int = CALLS_LIMIT) -> list[Row]:
        answer = await self._request("GET", f"/admin/calls?limit={limit}")
        return [] if answer is None else list(answer.get("calls", []))

    async def call_stream(self) -> AsyncIterator[Row]:
        """Finished calls as they happen: SSE when offered, else polling ``/admin/calls``."""
        try:
            async with self.client.stream(
                "GET", "/admin/calls/stream", timeout=httpx.Timeout(self.timeout, read=None)
            ) as resp:
                if resp.status_code == 200:
                    parser = SseParser()
                    async for chunk in resp.aiter_raw():
                        for event in parser.feed(chunk):
                            if event.event in (None, "call") and event.data:
                                try:
                                    yield orjson.loads(event.data)
                                except orjson.JSONDecodeError:
                                    continue
                    return
        except httpx.HTTPError as exc:
            raise SourceError(f"call stream lost: {exc!r}") from None
        async for row in self._poll_calls():
            yield row

    async def _poll_calls(self) -> AsyncIterator[Row]:
        seen: set[str] = set()
        first = True
        while True:
            answer = await self._request("GET", f"/admin/calls?limit={CALLS_LIMIT}")
            if answer is None:
                return
            fresh = [c for c in answer.get("calls", []) if c.get("id") not in seen]
            seen = {c.get("id") for c in answer.get("calls", [])}
            if not first:
                for row in reversed(fresh):
                    yield row
            first = False
            await asyncio.sleep(POLL_S * 2)

    async def force_breaker(self, deployment: str, force: str | None) -> Row:
        return dict(
            await self._request("POST", f"/admin/breakers/{deployment}", {"force": force}) or {}
        )

    async def inject_outage(self, deployment: str, for_s: float = OUTAGE_S) -> Row:
        body = {"deployment": deployment, "kind": "outage", "for_s": for_s}
        return dict(await self._request("POST", "/admin/faults", body) or {})

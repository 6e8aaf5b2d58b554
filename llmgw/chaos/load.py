"""The drill's load: open-loop arrivals per tenant against the gateway's OpenAI API (aiohttp).

Each tenant gets arrivals at ``rate_per_s`` (Poisson or fixed spacing) for the run's duration,
whether or not earlier calls have answered; an arrival that finds ``max_in_flight`` calls
outstanding is *shed* (counted, not sent) so a stuck gateway cannot grow the load without bound.
With ``[[load.tenants]]`` each tenant has its own rate, stream share and sending window.
Every call records what the client saw as a ``CallResult``. Loops are bounded in count and time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from llmgw.chaos.drill import Load, TenantLoad
from llmgw.chaos.score import CallResult

MAX_ARRIVALS_PER_TENANT = 100_000
MAX_STREAM_EVENTS = 100_000


@dataclass(slots=True)
class LoadStats:
    """Live counters for the progress display."""

    sent: int = 0
    done: int = 0
    ok: int = 0
    shed: int = 0
    in_flight: int = 0


@dataclass(slots=True)
class _StreamSeen:
    ttft_ms: float | None = None
    finish: bool = False
    done: bool = False
    error: str | None = None
    tokens: int = 0
    usage_tokens: int | None = None


def error_class(body: bytes, status: int) -> str:
    """The error class of an error answer: OpenAI ``error.code``, else ``error.type``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"http_{status}"
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        for key in ("code", "type"):
            if isinstance(err.get(key), str) and err[key]:
                return str(err[key])
    return f"http_{status}"


def read_event(data: bytes, seen: _StreamSeen, elapsed_ms: float) -> None:
    """Fold one SSE ``data:`` payload of an OpenAI chat stream into ``seen``."""
    if data == b"[DONE]":
        seen.done = True
        return
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        seen.error = seen.error or "malformed_event"
        return
    if not isinstance(event, dict):
        return
    if "error" in event:
        err = event["error"]
        code = err.get("code") or err.get("type") if isinstance(err, dict) else None
        seen.error = str(code or "stream_error")
        return
    usage = event.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        seen.usage_tokens = usage["completion_tokens"]
    for choice in event.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls"):
            seen.tokens += 1
            if seen.ttft_ms is None:
                seen.ttft_ms = elapsed_ms
        if choice.get("finish_reason"):
            seen.finish = True


class LoadGenerator:
    """Sends the drill's load; ``results`` fills as calls finish."""

    def __init__(
        self,
        base_url: str,
        keys: list[tuple[str, str]],
        load: Load,
        model: str,
        phase_at: Callable[[float], str],
        seed: int | None = None,
        tenant_loads: Mapping[str, TenantLoad] | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/chat/completions"
        self.keys = keys  # (tenant label, secret)
        self.load = load
        self.model = model
        self.phase_at = phase_at
        self.tenant_loads = dict(tenant_loads or {})  # by tenant label
        self.rng = random.Random(seed)
        self.stats = LoadStats()
        self.results: list[CallResult] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, t0: float, duration_s: float) -> list[CallResult]:
        """Send arrivals from monotonic ``t0`` for ``duration_s``, then wait for stragglers."""
        connector = aiohttp.TCPConnector(limit=self.load.max_in_flight + 8)
        timeout = aiohttp.ClientTimeout(total=self.load.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            arrivals = [
                self._arrivals(session, tenant, key, t0, duration_s) for tenant, key in self.keys
            ]
            await asyncio.gather(*arrivals)
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=self.load.timeout_s + 5)
        return self.results

    async def _arrivals(
        self, session: aiohttp.ClientSession, tenant: str, key: str, t0: float, duration_s: float
    ) -> None:
        spec = self.tenant_loads.get(tenant)
        rate = spec.rate_per_s if spec else self.load.rate_per_s
        share = self.load.stream_share
        if spec is not None and spec.stream_share is not None:
            share = spec.stream_share
        end = min(duration_s, spec.to_s or duration_s) if spec else duration_s
        at = (spec.from_s if spec else 0.0) + self._gap(rate)
        for _ in range(MAX_ARRIVALS_PER_TENANT):
            if at >= end:
                return
            delay = t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.stats.in_flight >= self.load.max_in_flight:
                self.stats.shed += 1
            else:
                stream = self.rng.random() < share
                task = asyncio.create_task(self._call(session, tenant, key, stream, t0))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            at += self._gap(rate)

    def _gap(self, rate: float) -> float:
        if self.load.arrival == "fixed":
            return 1.0 / rate
        return self.rng.expovariate(rate)

    async def _call(
        self, session: aiohttp.ClientSession, tenant: str, key: str, stream: bool, t0: float
    ) -> None:
        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.load.prompt}],
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        start = time.monotonic()
        rel = start - t0
        self.stats.sent += 1
        self.stats.in_flight += 1
        fields: dict[str, object] = {}
        try:
            async with session.post(self.url, data=orjson.dumps(body), headers=headers) as resp:
                fields = _headers(resp)
                if resp.status != 200:
                    fields["error_class"] = error_class(await resp.read(), resp.status)
                elif stream:
                    fields.update(await _read_stream(resp, start))
                else:
                    fields.update(_read_answer(await resp.read()))
        except TimeoutError:
            fields["error_class"] = "client_timeout"
        except aiohttp.ClientPayloadError:
            fields["error_class"] = "stream_broken"
        except aiohttp.ClientError:
            fields["error_class"] = "connect_error"
        finally:
            self.stats.in_flight -= 1
        result = CallResult(
            start_s=rel,
            tenant=tenant,
            stream=stream,
            latency_ms=(time.monotonic() - start) * 1000.0,
            phase=self.phase_at(rel),
            **fields,  # type: ignore[arg-type]
        )
        self.results.append(result)
        self.stats.done += 1
        self.stats.ok += result.ok


def _headers(resp: aiohttp.ClientResponse) -> dict[str, object]:
    out: dict[str, object] = {"status": resp.status}
    rid = resp.headers.get("x-request-id")
    if rid:
        out["request_id"] = rid
    provider, model = resp.headers.get("x-llmgw-provider"), resp.headers.get("x-llmgw-model")
    if provider:
        out["deployment"] = f"{provider}/{model or ''}"
    attempts = resp.headers.get("x-llmgw-attempts", "")
    if attempts.isdigit():
        out["attempts"] = int(attempts)
    return out


def _read_answer(raw: bytes) -> dict[str, object]:
    try:
        data = orjson.loads(raw)
        choice = data["choices"][0]
        tokens = int((data.get("usage") or {}).get("completion_tokens") or 0)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
        return {"error_class": "malformed_answer"}
    return {"ended_ok": bool(choice.get("finish_reason")), "output_tokens": tokens}


async def _read_stream(resp: aiohttp.ClientResponse, start: float) -> dict[str, object]:
    seen = _StreamSeen()
    events = 0
    async for line in resp.content:
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        read_event(line[5:].strip(), seen, (time.monotonic() - start) * 1000.0)
        events += 1
        if seen.done or events >= MAX_STREAM_EVENTS:
            break
    tokens = seen.usage_tokens if seen.usage_tokens is not None else seen.tokens
    return {
        "ttft_ms": seen.ttft_ms,
        "ended_ok": seen.finish and seen.done and seen.error is None,
        "error_class": seen.error,
        "output_tokens": tokens,
    }

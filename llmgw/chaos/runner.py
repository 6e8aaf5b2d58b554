"""Running a drill: load, fault timeline and breaker watch side by side, then the scorecard.

Faults go to the mocks' control API (``POST /_mock/faults``) when the harness owns the stack, or
to the gateway's admin API (``POST /admin/faults``) when it targets a running gateway. The
breaker watch polls ``GET /admin/breakers`` every 250 ms; a 401/404 there turns it off with a
note in the report. Everything talks to the gateway over HTTP only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from llmgw.chaos.drill import Drill, FaultStep, TenantLoad
from llmgw.chaos.harness import HarnessError, OwnedStack, audit_rows
from llmgw.chaos.load import LoadGenerator, LoadStats
from llmgw.chaos.score import (
    AuditCheck,
    CallResult,
    FaultSpan,
    Scorecard,
    Transition,
    build_scorecard,
    check_audit,
    phase_of,
)

BREAKER_POLL_S = 0.25
TICK_S = 0.5
CONTROL_TIMEOUT_S = 5.0


@dataclass
class Target:
    """Where the drill runs: the gateway, its keys, and the mocks when the harness owns them."""

    url: str
    admin_key: str
    keys: list[tuple[str, str]]
    mock_urls: dict[str, str] | None = None


@dataclass
class Progress:
    """A snapshot for the live display."""

    elapsed_s: float
    duration_s: float
    phase: str
    stats: LoadStats
    active_faults: list[str]


@dataclass
class RunOutcome:
    calls: list[CallResult]
    spans: list[FaultSpan]
    transitions: list[Transition]
    notes: list[str] = field(default_factory=list)
    shed: int = 0
    breakers_available: bool = False


class FaultDriver(Protocol):
    async def apply(self, step: FaultStep) -> str: ...  # the deployment pattern it hit
    async def remove(self, step: FaultStep) -> None: ...


def _fault_fields(step: FaultStep) -> dict[str, Any]:
    data = {k: v for k, v in step.fault.to_dict().items() if v is not None}
    data.pop("model", None)
    if data.get("probability") == 1.0:
        data.pop("probability")
    return data


class MockFaultDriver:
    """Faults on the mocks: model ``*`` on the upstream's mock (``*`` = every mock)."""

    def __init__(self, client: httpx.AsyncClient, mocks: dict[str, str], model: str) -> None:
        self.client = client
        self.mocks = mocks
        self.model = model
        self.active: dict[str, list[FaultStep]] = {name: [] for name in mocks}

    def _names(self, step: FaultStep) -> list[str]:
        return list(self.mocks) if step.target == "*" else [step.target]

    async def apply(self, step: FaultStep) -> str:
        for name in self._names(step):
            self.active[name].append(step)
            await self._post(name, step)
        return "*" if step.target == "*" else f"{step.target}/{self.model}"

    async def remove(self, step: FaultStep) -> None:
        for name in self._names(step):
            self.active[name] = [s for s in self.active[name] if s is not step]
            resp = await self.client.delete(f"{self.mocks[name]}/_mock/faults")
            resp.raise_for_status()
            for other in self.active[name]:
                await self._post(name, other)

    async def _post(self, name: str, step: FaultStep) -> None:
        body = {**_fault_fields(step), "model": "*"}
        resp = await self.client.post(f"{self.mocks[name]}/_mock/faults", json=body)
        resp.raise_for_status()


class AdminFaultDriver:
    """Faults through the gateway's admin API; the drill's upstream names are deployment ids."""

    def __init__(self, client: httpx.AsyncClient, url: str, admin_key: str) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {admin_key}"}
        self.ids: dict[int, str] = {}

    async def apply(self, step: FaultStep) -> str:
        body = {"deployment": step.target, **_fault_fields(step), "for_s": step.for_s}
        resp = await self.client.post(f"{self.url}/admin/faults", json=body, headers=self.headers)
        resp.raise_for_status()
        self.ids[id(step)] = str(resp.json().get("id", ""))
        return step.target

    async def remove(self, step: FaultStep) -> None:
        fault_id = self.ids.pop(id(step), "")
        if fault_id:
            url = f"{self.url}/admin/faults/{fault_id}"
            resp = await self.client.delete(url, headers=self.headers)
            if resp.status_code not in (200, 204, 404):
                resp.raise_for_status()


class BreakerWatch:
    """Polls ``/admin/breakers``; keeps each transition once, timed from the run's start."""

    def __init__(self, client: httpx.AsyncClient, url: str, admin_key: str, wall_t0: float):
        self.client = client
        self.url = url.rstrip("/") + "/admin/breakers"
        self.headers = {"Authorization": f"Bearer {admin_key}"}
        self.wall_t0 = wall_t0
        self.transitions: dict[tuple[str, float, str, str], Transition] = {}
        self.states: dict[str, str] = {}
        self.available = True
        self.note = ""

    async def poll_once(self) -> None:
        resp = await self.client.get(self.url, headers=self.headers)
        if resp.status_code in (401, 403, 404):
            self.available = False
            self.note = f"breaker log unavailable: GET /admin/breakers answered {resp.status_code}"
            return
        resp.raise_for_status()
        self.ingest(resp.json(), time.time())

    def ingest(self, data: Any, now: float) -> None:
        for item in (data or {}).get("breakers", []):
            dep, state = str(item.get("deployment")), str(item.get("state"))
            listed = item.get("transitions") or []
            for tr in listed:
                at = float(tr.get("at", now)) - self.wall_t0
                key = (dep, round(at, 3), str(tr.get("from")), str(tr.get("to")))
                if key not in self.transitions:
                    self.transitions[key] = Transition(
                        at, dep, key[2], key[3], str(tr.get("reason") or "")
                    )
            old = self.states.get(dep)
            if not listed and old is not None and old != state:
                at = now - self.wall_t0
                self.transitions[(dep, round(at, 3), old, state)] = Transition(
                    at, dep, old, state, "polled"
                )
            self.states[dep] = state

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set() and self.available:
            try:
                await self.poll_once()
            except (httpx.HTTPError, ValueError) as exc:
                self.note = f"breaker poll failed: {exc}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BREAKER_POLL_S)


async def _timeline(
    drill: Drill,
    driver: FaultDriver,
    t0: float,
    spans: list[FaultSpan],
    notes: list[str],
    active: list[str],
) -> None:
    events = sorted(
        [(s.at_s, 1, i, s) for i, s in enumerate(drill.faults)]
        + [(min(s.end_s, drill.duration_s), 0, i, s) for i, s in enumerate(drill.faults)],
        key=lambda e: (e[0], e[1], e[2]),
    )
    applied: dict[int, tuple[str, float]] = {}
    try:
        for at, is_start, i, step in events:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            label = f"{step.target}={step.spec}"
            try:
                if is_start:
                    applied[i] = (await driver.apply(step), time.monotonic() - t0)
                    active.append(label)
                elif i in applied:
                    await driver.remove(step)
                    active.remove(label)
                    pattern, began = applied.pop(i)
                    spans.append(FaultSpan(label, pattern, began, time.monotonic() - t0))
            except httpx.HTTPError as exc:
                notes.append(f"fault {label}: could not {'apply' if is_start else 'remove'}: {exc}")
    finally:
        for i, (pattern, began) in applied.items():
            step = drill.faults[i]
            with contextlib.suppress(httpx.HTTPError):
                await driver.remove(step)
            spans.append(FaultSpan(f"{step.target}={step.spec}", pattern, began, drill.duration_s))


def tenant_keys(
    drill: Drill, keys: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], dict[str, TenantLoad]]:
    """With ``[[load.tenants]]``: the keys relabelled by tenant name (in drill order) and the
    per-tenant loads by name; otherwise the keys as they are."""
    specs = drill.load.tenant_loads
    if not specs:
        return keys, {}
    if len(keys) != len(specs):
        names = ", ".join(t.name for t in specs)
        raise HarnessError(f"this drill has {len(specs)} tenants ({names}): give one key each")
    return [(t.name, secret) for t, (_, secret) in zip(specs, keys, strict=True)], {
        t.name: t for t in specs
    }


async def execute(
    drill: Drill, target: Target, on_tick: Callable[[Progress], None] | None = None
) -> RunOutcome:
    """Run the load and the fault timeline for the drill's duration."""
    model = drill.load_model
    keys, specs = tenant_keys(drill, target.keys)
    load = LoadGenerator(
        target.url,
        keys,
        drill.load,
        model,
        lambda t: phase_of(drill.phases, t),
        drill.seed,
        specs,
    )
    spans: list[FaultSpan] = []
    notes: list[str] = []
    active: list[str] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=CONTROL_TIMEOUT_S) as client:
        driver: FaultDriver
        if target.mock_urls is not None:
            driver = MockFaultDriver(client, target.mock_urls, model)
        else:
            driver = AdminFaultDriver(client, target.url, target.admin_key)
        t0, wall_t0 = time.monotonic(), time.time()
        watch = BreakerWatch(client, target.url, target.admin_key, wall_t0)
        watcher = asyncio.create_task(watch.run(stop))
        timeline = asyncio.create_task(_timeline(drill, driver, t0, spans, notes, active))
        ticker = asyncio.create_task(_tick(drill, load, t0, active, stop, on_tick))
        try:
            await load.run(t0, drill.duration_s)
            await timeline
        finally:
            stop.set()
            timeline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timeline
            await asyncio.gather(watcher, ticker, return_exceptions=True)
    if watch.note:
        notes.append(watch.note)
    if load.stats.shed:
        notes.append(f"{load.stats.shed} arrivals shed at max_in_flight={drill.load.max_in_flight}")
    return RunOutcome(
        calls=sorted(load.results, key=lambda c: c.start_s),
        spans=sorted(spans, key=lambda s: s.at_s),
        transitions=list(watch.transitions.values()),
        notes=notes,
        shed=load.stats.shed,
        breakers_available=watch.available and not watch.note.startswith("breaker poll failed"),
    )


async def _tick(
    drill: Drill,
    load: LoadGenerator,
    t0: float,
    active: list[str],
    stop: asyncio.Event,
    on_tick: Callable[[Progress], None] | None,
) -> None:
    if on_tick is None:
        return
    while not stop.is_set():
        elapsed = time.monotonic() - t0
        on_tick(
            Progress(
                min(elapsed, drill.duration_s),
                drill.duration_s,
                phase_of(drill.phases, elapsed),
                load.stats,
                list(active),
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_S)


@dataclass
class DrillRun:
    """A finished run: the scorecard and the facts the report needs."""

    drill: Drill
    scorecard: Scorecard
    outcome: RunOutcome
    mode: str  # "owned" | "external"
    gateway_url: str


def run_drill(
    drill: Drill,
    gateway_url: str | None = None,
    admin_key: str = "",
    keys: list[tuple[str, str]] | None = None,
    on_tick: Callable[[Progress], None] | None = None,
) -> DrillRun:
    """Run ``drill`` on a stack of its own, or against ``gateway_url`` with client ``keys``.

    Raises ``HarnessError`` when the processes cannot be started.
    """
    if gateway_url is not None:
        target = Target(gateway_url.rstrip("/"), admin_key, keys or [])
        outcome = asyncio.run(execute(drill, target, on_tick))
        card = _card(drill, outcome, None)
        return DrillRun(drill, card, outcome, "external", target.url)
    stack = OwnedStack.start(drill)
    try:
        target = Target(stack.url, stack.admin_key, stack.keys, stack.mock_urls())
        outcome = asyncio.run(execute(drill, target, on_tick))
        code = stack.stop_gateway()
        if code not in (0, None):
            outcome.notes.append(f"the gateway exited {code} on SIGTERM")
        rows = audit_rows(stack.state)
        audit = None if rows is None else check_audit(outcome.calls, rows)
        if rows is None:
            outcome.notes.append("no audit log found in the gateway's state file")
        return DrillRun(drill, _card(drill, outcome, audit), outcome, "owned", target.url)
    finally:
        stack.stop()
        stack.cleanup()


def _card(drill: Drill, outcome: RunOutcome, audit: AuditCheck | None) -> Scorecard:
    notes = list(outcome.notes)
    if audit is not None and audit.missing:
        notes.append(f"{len(audit.missing)} request ids missing from the audit log")
    return build_scorecard(
        drill.phases,
        outcome.calls,
        outcome.spans,
        outcome.transitions,
        drill.slo,
        audit,
        notes,
        tenants=[t.name for t in drill.load.tenant_loads],
    )

"""Chaos drill files: TOML -> frozen records, every problem reported as ``file: key.path: what``.

A drill names the upstreams to fake, the public models routed over them, the load to send, the
faults to inject on a timeline, and the SLOs the gateway must hold. Example::

    name = "primary-outage"
    description = "The primary answers 503 for 8 s; traffic must move over and come back."
    duration_s = 20
    seed = 7                        # optional: reproducible arrivals and fault dice

    [[upstreams]]                   # one mock upstream each (a provider in the gateway config)
    name = "primary"
    format = "openai"               # openai | anthropic | gemini (default openai)
    ttft_ms = 20                    # mock knobs: time to first token,
    tokens_per_s = 400              #   stream pace (0 = instant),
    output_tokens = 12              #   tokens per answer
    max_concurrency = 4             # optional: the deployments' max_concurrency in the gateway

    [[models]]                      # public model -> ordered upstream names
    name = "chat"
    deployments = ["primary", "secondary"]
    strategy = "priority"           # optional; written to the gateway config only when given

    [gateway.routing.breaker]       # optional: copied as [routing...] into the gateway config
    open_s = 2

    [load]
    tenants = 2                     # one key per tenant (chaos/t1, chaos/t2, ...)
    rate_per_s = 10                 # arrivals per second per tenant (open loop)
    arrival = "poisson"             # poisson | fixed
    stream_share = 0.5              # share of calls that stream (0..1)
    max_in_flight = 64              # arrivals beyond this are counted as shed, not sent
    prompt = "Say hello."
    model = "chat"                  # optional: default the first [[models]] entry
    timeout_s = 30                  # per call, client side
    # or, instead of tenants = N, one [[load.tenants]] table per tenant with its own rate,
    # weight and limits: see llmgw.chaos.drill_tenants (also for [[slo.tenants]])

    [[faults]]                      # the timeline
    at_s = 5
    for_s = 8
    upstream = "primary"            # with --gateway: a deployment id ("provider/model" or "*")
    fault = "status:503"            # a mock fault spec without "MODEL=", or "outage" (= 503)

    [[phases]]                      # optional; default before / during / after the faults
    name = "storm"
    from_s = 5
    to_s = 13

    [slo]                           # each key optional; unset SLOs are not judged
    success_rate = 0.99             # over the whole run
    p99_ms = 3000                   # p99 latency of successful calls
    failover_s = 2                  # fault start -> first success served by another deployment
    recover_s = 10                  # fault end -> first success served by the faulted one again
    truncated_successes = 0         # default 0: 200 streams that ended without [DONE]
    double_charges = 0              # default 0: audit rows billing what the client never got

Fault specs are those of ``llmgw mock serve --fault`` after the ``=``: ``status:503``,
``rate_limit,retry_after=1``, ``status:503,probability=0.3``, ``cut,after_tokens=5``,
``stall,after_tokens=0,seconds=2`` (a slow first token). ``Drill.scaled(f)`` multiplies every
time in the drill (duration, timeline, phases, fault ``seconds``/``retry_after``, the
failover/recover SLOs and ``*_s`` keys of the routing overrides) for quick runs.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmgw.chaos.drill_fields import DrillError, Reader
from llmgw.chaos.drill_tenants import TenantLoad, TenantSlo, parse_tenant_loads, parse_tenant_slos
from llmgw.mock.faults import Fault, parse_fault

FORMATS: tuple[str, ...] = ("openai", "anthropic", "gemini")
ARRIVALS: tuple[str, ...] = ("poisson", "fixed")
OUTAGE = "outage"


__all__ = [
    "Drill",
    "DrillError",
    "FaultStep",
    "Load",
    "Phase",
    "Slo",
    "TenantLoad",
    "TenantSlo",
    "load_drill",
    "parse_drill",
]


@dataclass(slots=True, frozen=True)
class Upstream:
    """One mock upstream; in the gateway config a provider of the same name."""

    name: str
    format: str = "openai"
    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0
    output_tokens: int = 16
    max_concurrency: int | None = None  # written to its deployments in the gateway config


@dataclass(slots=True, frozen=True)
class ModelSpec:
    """A public model and its deployments (upstream names, in order)."""

    name: str
    deployments: tuple[str, ...]
    strategy: str | None = None


@dataclass(slots=True, frozen=True)
class Load:
    tenants: int = 1
    rate_per_s: float = 10.0
    arrival: str = "poisson"
    stream_share: float = 0.5
    max_in_flight: int = 64
    prompt: str = "Say hello."
    model: str | None = None
    timeout_s: float = 30.0
    tenant_loads: tuple[TenantLoad, ...] = ()  # [[load.tenants]]: one entry per tenant


@dataclass(slots=True, frozen=True)
class FaultStep:
    """``fault`` (for every model) on ``target`` from ``at_s`` for ``for_s`` seconds."""

    at_s: float
    for_s: float
    target: str
    fault: Fault
    spec: str

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s


@dataclass(slots=True, frozen=True)
class Phase:
    name: str
    from_s: float
    to_s: float


@dataclass(slots=True, frozen=True)
class Slo:
    success_rate: float | None = None
    p99_ms: float | None = None
    failover_s: float | None = None
    recover_s: float | None = None
    truncated_successes: int = 0
    double_charges: int = 0
    baseline_phase: str | None = None  # for p99_ms_ratio_to_baseline; None = the first phase
    tenants: tuple[TenantSlo, ...] = ()


@dataclass(slots=True, frozen=True)
class Drill:
    name: str
    description: str
    duration_s: float
    upstreams: tuple[Upstream, ...]
    models: tuple[ModelSpec, ...]
    load: Load
    faults: tuple[FaultStep, ...]
    phases: tuple[Phase, ...]
    slo: Slo
    routing: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int | None = None

    @property
    def load_model(self) -> str:
        """The public model the load asks for."""
        if self.load.model:
            return self.load.model
        return self.models[0].name if self.models else "chat"

    def scaled(self, factor: float) -> Drill:
        """This drill with every time multiplied by ``factor`` (phases re-derived if default)."""
        if factor == 1.0:
            return self
        steps = tuple(
            dataclasses.replace(
                s, at_s=s.at_s * factor, for_s=s.for_s * factor, fault=_scale_fault(s.fault, factor)
            )
            for s in self.faults
        )
        phases = tuple(Phase(p.name, p.from_s * factor, p.to_s * factor) for p in self.phases)
        slo = dataclasses.replace(
            self.slo,
            failover_s=None if self.slo.failover_s is None else self.slo.failover_s * factor,
            recover_s=None if self.slo.recover_s is None else self.slo.recover_s * factor,
        )
        tenant_loads = tuple(
            dataclasses.replace(
                t, from_s=t.from_s * factor, to_s=None if t.to_s is None else t.to_s * factor
            )
            for t in self.load.tenant_loads
        )
        return dataclasses.replace(
            self,
            duration_s=self.duration_s * factor,
            load=dataclasses.replace(self.load, tenant_loads=tenant_loads),
            faults=steps,
            phases=phases,
            slo=slo,
            routing=_scale_times(self.routing, factor),
        )


def _scale_fault(fault: Fault, factor: float) -> Fault:
    changes: dict[str, float] = {}
    if fault.seconds is not None:
        changes["seconds"] = fault.seconds * factor
    if fault.retry_after is not None:
        changes["retry_after"] = fault.retry_after * factor
    return dataclasses.replace(fault, **changes) if changes else fault


def _scale_times(table: dict[str, Any], factor: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out[key] = _scale_times(value, factor)
        elif key.endswith("_s") and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value * factor
        else:
            out[key] = value
    return out


def default_phases(duration_s: float, faults: tuple[FaultStep, ...]) -> tuple[Phase, ...]:
    """before / during / after the faults (or one phase ``all`` when there are none)."""
    if not faults:
        return (Phase("all", 0.0, duration_s),)
    start = min(f.at_s for f in faults)
    end = min(max(f.end_s for f in faults), duration_s)
    phases = [Phase("before", 0.0, start), Phase("during", start, end)]
    if end < duration_s:
        phases.append(Phase("after", end, duration_s))
    return tuple(p for p in phases if p.to_s > p.from_s)


def load_drill(path: Path) -> Drill:
    """Read and validate a drill file; every failure is a ``DrillError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DrillError(path, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DrillError(path, "", f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DrillError(path, "", f"invalid TOML: {exc}") from None
    return parse_drill(data, path)


def parse_drill(data: dict[str, Any], file: Path | str | None = None) -> Drill:
    """Validate parsed TOML into a ``Drill``."""
    r = Reader(file)
    top = ("name", "description", "duration_s", "seed", "upstreams", "models", "gateway")
    r.keys(data, (*top, "load", "faults", "phases", "slo"), "")
    name = r.string(data, "name", "", required=True)
    duration = r.number(data, "duration_s", "", required=True, positive=True)
    upstreams = tuple(_upstream(r, t, p) for t, p in r.tables(data, "upstreams"))
    _unique(r, [(u.name, f"upstreams[{i}].name") for i, u in enumerate(upstreams)])
    names = {u.name for u in upstreams}
    models = tuple(_model(r, t, p, names) for t, p in r.tables(data, "models"))
    _unique(r, [(m.name, f"models[{i}].name") for i, m in enumerate(models)])
    gateway = r.table(data, "gateway", "")
    r.keys(gateway, ("routing",), "gateway")
    routing = r.table(gateway, "routing", "gateway")
    load = _load(r, r.table(data, "load", ""), {m.name for m in models})
    faults = tuple(_fault(r, t, p, names, duration) for t, p in r.tables(data, "faults"))
    phases = tuple(_phase(r, t, p) for t, p in r.tables(data, "phases"))
    phases = phases or default_phases(duration or 0.0, faults)
    slo = _slo(r, r.table(data, "slo", ""), {t.name for t in load.tenant_loads})
    if slo.baseline_phase is not None and slo.baseline_phase not in {p.name for p in phases}:
        r.fail("slo.baseline_phase", f"unknown phase {slo.baseline_phase!r}")
    return Drill(
        name=name or "",
        description=r.string(data, "description", "") or "",
        duration_s=duration or 0.0,
        upstreams=upstreams,
        models=models,
        load=load,
        faults=faults,
        phases=phases,
        slo=slo,
        routing=routing,
        seed=r.integer(data, "seed", ""),
    )


def _unique(r: Reader, items: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for value, path in items:
        if value in seen:
            r.fail(path, f"duplicate name {value!r}")
        seen.add(value)


def _upstream(r: Reader, t: dict[str, Any], path: str) -> Upstream:
    keys = ("name", "format", "ttft_ms", "tokens_per_s", "output_tokens", "max_concurrency")
    r.keys(t, keys, path)
    fmt = r.string(t, "format", path) or "openai"
    if fmt not in FORMATS:
        r.fail(f"{path}.format", f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    return Upstream(
        name=r.name(t, "name", path),
        format=fmt,
        ttft_ms=r.number(t, "ttft_ms", path, minimum=0) or 0.0,
        tokens_per_s=r.number(t, "tokens_per_s", path, minimum=0) or 0.0,
        output_tokens=r.integer(t, "output_tokens", path, minimum=1) or 16,
        max_concurrency=r.integer(t, "max_concurrency", path, minimum=1),
    )


def _model(r: Reader, t: dict[str, Any], path: str, upstreams: set[str]) -> ModelSpec:
    r.keys(t, ("name", "deployments", "strategy"), path)
    deployments = r.strings(t, "deployments", path, required=True)
    if not deployments:
        r.fail(f"{path}.deployments", "needs at least one upstream name")
    for i, dep in enumerate(deployments):
        if dep not in upstreams:
            r.fail(f"{path}.deployments[{i}]", f"unknown upstream {dep!r}")
    return ModelSpec(r.name(t, "name", path), tuple(deployments), r.string(t, "strategy", path))


def _load(r: Reader, t: dict[str, Any], models: set[str]) -> Load:
    keys = ("tenants", "rate_per_s", "arrival", "stream_share", "max_in_flight", "prompt")
    r.keys(t, (*keys, "model", "timeout_s"), "load")
    arrival = r.string(t, "arrival", "load") or "poisson"
    if arrival not in ARRIVALS:
        r.fail("load.arrival", f"unknown arrival {arrival!r} (one of {', '.join(ARRIVALS)})")
    share = r.number(t, "stream_share", "load", minimum=0)
    if share is not None and share > 1:
        r.fail("load.stream_share", f"must be 0..1, got {share}")
    model = r.string(t, "model", "load")
    if model is not None and models and model not in models:
        r.fail("load.model", f"unknown model {model!r} (models: {', '.join(sorted(models))})")
    tenant_loads: tuple[TenantLoad, ...] = ()
    if isinstance(t.get("tenants"), list):
        tenant_loads = parse_tenant_loads(r, t)
        count: int | None = len(tenant_loads)
    else:
        count = r.integer(t, "tenants", "load", minimum=1)
    return Load(
        tenants=count or 1,
        rate_per_s=r.number(t, "rate_per_s", "load", positive=True) or 10.0,
        arrival=arrival,
        stream_share=0.5 if share is None else share,
        max_in_flight=r.integer(t, "max_in_flight", "load", minimum=1) or 64,
        prompt=r.string(t, "prompt", "load") or "Say hello.",
        model=model,
        timeout_s=r.number(t, "timeout_s", "load", positive=True) or 30.0,
        tenant_loads=tenant_loads,
    )


def parse_fault_spec(spec: str) -> Fault:
    """A drill fault spec (``status:503``, ``outage``, ...) -> a ``Fault`` for every model."""
    head = spec.strip()
    if head == OUTAGE or head.startswith(OUTAGE + ","):
        head = "status:503" + head[len(OUTAGE) :]
    if "=" in head.split(",")[0]:
        raise ValueError(f"bad fault {spec!r}: leave out the MODEL= part")
    return parse_fault(f"*={head}")


def _fault(
    r: Reader, t: dict[str, Any], path: str, upstreams: set[str], duration: float | None
) -> FaultStep:
    r.keys(t, ("at_s", "for_s", "upstream", "fault"), path)
    at_s = r.number(t, "at_s", path, required=True, minimum=0) or 0.0
    for_s = r.number(t, "for_s", path, required=True, positive=True) or 0.0
    if duration is not None and at_s >= duration:
        r.fail(f"{path}.at_s", f"starts at {at_s} s, after the drill's end ({duration} s)")
    target = r.string(t, "upstream", path, required=True) or ""
    if upstreams and target not in upstreams and target != "*":
        r.fail(f"{path}.upstream", f"unknown upstream {target!r}")
    spec = r.string(t, "fault", path, required=True) or ""
    try:
        fault = parse_fault_spec(spec)
    except ValueError as exc:
        r.fail(f"{path}.fault", str(exc))
    return FaultStep(at_s, for_s, target, fault, spec)


def _phase(r: Reader, t: dict[str, Any], path: str) -> Phase:
    r.keys(t, ("name", "from_s", "to_s"), path)
    start = r.number(t, "from_s", path, required=True, minimum=0) or 0.0
    end = r.number(t, "to_s", path, required=True, minimum=0) or 0.0
    if end <= start:
        r.fail(f"{path}.to_s", f"must be after from_s ({start}), got {end}")
    return Phase(r.name(t, "name", path), start, end)


def _slo(r: Reader, t: dict[str, Any], tenants: set[str]) -> Slo:
    keys = ("success_rate", "p99_ms", "failover_s", "recover_s", "baseline_phase", "tenants")
    r.keys(t, (*keys, "truncated_successes", "double_charges"), "slo")
    rate = r.number(t, "success_rate", "slo", minimum=0)
    if rate is not None and rate > 1:
        r.fail("slo.success_rate", f"must be 0..1, got {rate}")
    truncated = r.integer(t, "truncated_successes", "slo", minimum=0)
    double = r.integer(t, "double_charges", "slo", minimum=0)
    return Slo(
        success_rate=rate,
        p99_ms=r.number(t, "p99_ms", "slo", positive=True),
        failover_s=r.number(t, "failover_s", "slo", minimum=0),
        recover_s=r.number(t, "recover_s", "slo", minimum=0),
        truncated_successes=truncated or 0,
        double_charges=double or 0,
        baseline_phase=r.string(t, "baseline_phase", "slo"),
        tenants=parse_tenant_slos(r, t, tenants),
    )

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

import tomllib
from pathlib import Path
from typing import Any

from llmgw.chaos.drill_records import (
    Drill,
    FaultStep,
    Load,
    ModelSpec,
    Phase,
    Slo,
    Upstream,
    default_phases,
)
from llmgw.chaos.drill_tenants import TenantLoad, TenantSlo, parse_tenant_loads, parse_tenant_slos
from llmgw.mock.faults import Fault, parse_fault
from llmgw.settings.fields import ConfigError, FieldReader, key_join

FORMATS: tuple[str, ...] = ("openai", "anthropic", "gemini")
ARRIVALS: tuple[str, ...] = ("poisson", "fixed")
OUTAGE = "outage"
TOP_KEYS = ("name", "description", "duration_s", "seed", "upstreams", "models", "gateway")
UPSTREAM_KEYS = ("name", "format", "ttft_ms", "tokens_per_s", "output_tokens", "max_concurrency")
LOAD_KEYS = ("tenants", "rate_per_s", "arrival", "stream_share", "max_in_flight", "prompt")
SLO_KEYS = ("success_rate", "p99_ms", "failover_s", "recover_s", "baseline_phase", "tenants")


__all__ = [
    "Drill",
    "DrillError",
    "FaultStep",
    "Load",
    "ModelSpec",
    "Phase",
    "Slo",
    "TenantLoad",
    "TenantSlo",
    "Upstream",
    "default_phases",
    "load_drill",
    "parse_drill",
    "parse_fault_spec",
]


class DrillError(ConfigError):
    """A drill that cannot run. ``str()`` is ``file: key.path: problem``."""

    unnamed = "<drill>"


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
    """Validate parsed TOML into a ``Drill``; every failure is a ``DrillError``."""
    r = FieldReader(file, DrillError)
    r.check_keys(data, (*TOP_KEYS, "load", "faults", "phases", "slo"), "")
    name = r.string(data, "name", "")
    duration = r.required_number(data, "duration_s", "")
    upstreams = tuple(_upstream(r, t, p) for t, p in r.tables(data, "upstreams", ""))
    r.unique([u.name for u in upstreams], "upstreams")
    names = {u.name for u in upstreams}
    models = tuple(_model(r, t, p, names) for t, p in r.tables(data, "models", ""))
    r.unique([m.name for m in models], "models")
    gateway = r.section(data, "gateway", "")
    r.check_keys(gateway, ("routing",), "gateway")
    routing = r.section(gateway, "routing", "gateway")
    load = _load(r, r.section(data, "load", ""), {m.name for m in models})
    faults = tuple(_fault(r, t, p, names, duration) for t, p in r.tables(data, "faults", ""))
    phases = tuple(_phase(r, t, p) for t, p in r.tables(data, "phases", ""))
    phases = phases or default_phases(duration, faults)
    slo = _slo(r, r.section(data, "slo", ""), {t.name for t in load.tenant_loads})
    if slo.baseline_phase is not None and slo.baseline_phase not in {p.name for p in phases}:
        raise r.error("slo.baseline_phase", f"unknown phase {slo.baseline_phase!r}")
    return Drill(
        name=name,
        description=r.string(data, "description", "", ""),
        duration_s=duration,
        upstreams=upstreams,
        models=models,
        load=load,
        faults=faults,
        phases=phases,
        slo=slo,
        routing=routing,
        seed=r.optional_int(data, "seed", "", low=None),
    )


def _upstream(r: FieldReader, t: dict[str, Any], path: str) -> Upstream:
    r.check_keys(t, UPSTREAM_KEYS, path)
    return Upstream(
        name=r.name(t, "name", path),
        format=r.choice(t, "format", path, FORMATS, "format") or "openai",
        ttft_ms=r.number(t, "ttft_ms", path, 0.0, positive=False),
        tokens_per_s=r.number(t, "tokens_per_s", path, 0.0, positive=False),
        output_tokens=r.integer(t, "output_tokens", path, 16, 1),
        max_concurrency=r.optional_int(t, "max_concurrency", path),
    )


def _model(r: FieldReader, t: dict[str, Any], path: str, upstreams: set[str]) -> ModelSpec:
    r.check_keys(t, ("name", "deployments", "strategy"), path)
    r.require(t, "deployments", path)
    deployments = r.string_list(t, "deployments", path) or ()
    where = key_join(path, "deployments")
    if not deployments:
        raise r.error(where, "needs at least one upstream name")
    for i, dep in enumerate(deployments):
        if dep not in upstreams:
            raise r.error(f"{where}[{i}]", f"unknown upstream {dep!r}")
    return ModelSpec(r.name(t, "name", path), deployments, r.string(t, "strategy", path, None))


def _load(r: FieldReader, t: dict[str, Any], models: set[str]) -> Load:
    r.check_keys(t, (*LOAD_KEYS, "model", "timeout_s"), "load")
    arrival = r.choice(t, "arrival", "load", ARRIVALS, "arrival") or "poisson"
    share = r.share(t, "stream_share", "load")
    model = r.string(t, "model", "load", None)
    if model is not None and models and model not in models:
        listed = ", ".join(sorted(models))
        raise r.error("load.model", f"unknown model {model!r} (models: {listed})")
    tenant_loads: tuple[TenantLoad, ...] = ()
    if isinstance(t.get("tenants"), list):
        tenant_loads = parse_tenant_loads(r, t)
        count = len(tenant_loads)
    else:
        count = r.integer(t, "tenants", "load", 1, 1)
    return Load(
        tenants=count,
        rate_per_s=r.number(t, "rate_per_s", "load", 10.0),
        arrival=arrival,
        stream_share=0.5 if share is None else share,
        max_in_flight=r.integer(t, "max_in_flight", "load", 64, 1),
        prompt=r.string(t, "prompt", "load", "") or "Say hello.",
        model=model,
        timeout_s=r.number(t, "timeout_s", "load", 30.0),
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
    r: FieldReader, t: dict[str, Any], path: str, upstreams: set[str], duration: float
) -> FaultStep:
    r.check_keys(t, ("at_s", "for_s", "upstream", "fault"), path)
    at_s = r.required_number(t, "at_s", path, positive=False)
    for_s = r.required_number(t, "for_s", path)
    if at_s >= duration:
        raise r.error(
            key_join(path, "at_s"), f"starts at {at_s} s, after the drill's end ({duration} s)"
        )
    target = r.string(t, "upstream", path)
    if upstreams and target not in upstreams and target != "*":
        raise r.error(key_join(path, "upstream"), f"unknown upstream {target!r}")
    spec = r.string(t, "fault", path)
    try:
        fault = parse_fault_spec(spec)
    except ValueError as exc:
        raise r.error(key_join(path, "fault"), str(exc)) from None
    return FaultStep(at_s, for_s, target, fault, spec)


def _phase(r: FieldReader, t: dict[str, Any], path: str) -> Phase:
    r.check_keys(t, ("name", "from_s", "to_s"), path)
    start = r.required_number(t, "from_s", path, positive=False)
    end = r.required_number(t, "to_s", path, positive=False)
    if end <= start:
        raise r.error(key_join(path, "to_s"), f"must be after from_s ({start}), got {end}")
    return Phase(r.name(t, "name", path), start, end)


def _slo(r: FieldReader, t: dict[str, Any], tenants: set[str]) -> Slo:
    r.check_keys(t, (*SLO_KEYS, "truncated_successes", "double_charges"), "slo")
    return Slo(
        success_rate=r.share(t, "success_rate", "slo"),
        p99_ms=r.optional_number(t, "p99_ms", "slo"),
        failover_s=r.optional_number(t, "failover_s", "slo", positive=False),
        recover_s=r.optional_number(t, "recover_s", "slo", positive=False),
        truncated_successes=r.integer(t, "truncated_successes", "slo", 0, 0),
        double_charges=r.integer(t, "double_charges", "slo", 0, 0),
        baseline_phase=r.string(t, "baseline_phase", "slo", None),
        tenants=parse_tenant_slos(r, t, tenants),
    )

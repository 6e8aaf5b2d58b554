"""The records of a chaos drill (frozen dataclasses) and their time scaling.

``llmgw.chaos.drill`` documents the file format and reads a file into these records;
``Drill.scaled`` multiplies every time in a drill for quick runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from llmgw.chaos.drill_tenants import TenantLoad, TenantSlo
from llmgw.mock.faults import Fault

__all__ = [
    "Drill",
    "FaultStep",
    "Load",
    "ModelSpec",
    "Phase",
    "Slo",
    "Upstream",
    "default_phases",
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
    if fault.seconds is None and fault.retry_after is None:
        return fault
    return dataclasses.replace(
        fault,
        seconds=None if fault.seconds is None else fault.seconds * factor,
        retry_after=None if fault.retry_after is None else fault.retry_after * factor,
    )


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

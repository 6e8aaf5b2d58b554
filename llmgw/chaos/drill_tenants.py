"""Per-tenant parts of a drill: ``[[load.tenants]]`` and ``[[slo.tenants]]``.

A drill may describe each tenant of its load separately instead of ``tenants = N`` clones::

    [[load.tenants]]
    name = "quiet"                  # key for tenant "chaos/quiet"
    rate_per_s = 4                  # its own arrivals per second
    stream_share = 0.0              # optional: default [load].stream_share
    weight = 3                      # optional: fair-queue weight in the gateway config
    from_s = 0                      # optional: when it starts and stops sending
    to_s = 20
    rpm = 120                       # optional limits -> [tenants."chaos/quiet".limits]
    tpm = 100000
    concurrency = 4

    [[slo.tenants]]
    name = "quiet"
    success_rate = 0.99             # over the whole run
    p99_ms = 2000                   # p99 of its successes, over the whole run
    p99_ms_ratio_to_baseline = 1.10 # its p99 in every later phase <= 1.10 x the baseline phase's
    rate_limited_min = 1            # at least this many 429 answers
    timeouts = 0                    # at most this many timeouts (client or gateway side)

The baseline phase is ``[slo].baseline_phase`` (default: the first phase).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmgw.settings.fields import FieldReader, key_join

LOAD_TENANT_KEYS = (
    "name",
    "rate_per_s",
    "stream_share",
    "weight",
    "from_s",
    "to_s",
    "rpm",
    "tpm",
    "concurrency",
)
SLO_TENANT_KEYS = (
    "name",
    "success_rate",
    "p99_ms",
    "p99_ms_ratio_to_baseline",
    "rate_limited_min",
    "timeouts",
)


@dataclass(slots=True, frozen=True)
class TenantLoad:
    """One tenant's share of the load, and what the gateway config says about it."""

    name: str
    rate_per_s: float
    stream_share: float | None = None  # None: the [load] default
    weight: int = 1
    from_s: float = 0.0
    to_s: float | None = None  # None: until the drill ends
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None

    def limits(self) -> dict[str, int]:
        """The ``[tenants."chaos/<name>".limits]`` table (only the keys that are set)."""
        pairs = (("rpm", self.rpm), ("tpm", self.tpm), ("concurrency", self.concurrency))
        return {k: v for k, v in pairs if v is not None}


@dataclass(slots=True, frozen=True)
class TenantSlo:
    name: str
    success_rate: float | None = None
    p99_ms: float | None = None
    p99_ms_ratio_to_baseline: float | None = None
    rate_limited_min: int | None = None
    timeouts: int | None = None


def parse_tenant_loads(r: FieldReader, t: dict[str, Any]) -> tuple[TenantLoad, ...]:
    """``[[load.tenants]]`` (``t`` is the ``[load]`` table holding an array of tables)."""
    out: list[TenantLoad] = []
    for item, path in r.tables(t, "tenants", "load"):
        r.check_keys(item, LOAD_TENANT_KEYS, path)
        start = r.number(item, "from_s", path, 0.0, positive=False)
        end = r.optional_number(item, "to_s", path)
        if end is not None and end <= start:
            raise r.error(key_join(path, "to_s"), f"must be after from_s ({start}), got {end}")
        out.append(
            TenantLoad(
                name=r.name(item, "name", path),
                rate_per_s=r.required_number(item, "rate_per_s", path),
                stream_share=r.share(item, "stream_share", path),
                weight=r.integer(item, "weight", path, 1, 1),
                from_s=start,
                to_s=end,
                rpm=r.optional_int(item, "rpm", path),
                tpm=r.optional_int(item, "tpm", path),
                concurrency=r.optional_int(item, "concurrency", path),
            )
        )
    if not out:
        raise r.error("load.tenants", "needs at least one [[load.tenants]] table")
    r.unique([t.name for t in out], "load.tenants")
    return tuple(out)


def parse_tenant_slos(r: FieldReader, t: dict[str, Any], known: set[str]) -> tuple[TenantSlo, ...]:
    """``[[slo.tenants]]``; every name must be a ``[[load.tenants]]`` name."""
    out: list[TenantSlo] = []
    for item, path in r.tables(t, "tenants", "slo"):
        r.check_keys(item, SLO_TENANT_KEYS, path)
        name = r.name(item, "name", path)
        if name not in known:
            listed = ", ".join(sorted(known)) or "none: add [[load.tenants]]"
            raise r.error(key_join(path, "name"), f"unknown tenant {name!r} (tenants: {listed})")
        out.append(
            TenantSlo(
                name=name,
                success_rate=r.share(item, "success_rate", path),
                p99_ms=r.optional_number(item, "p99_ms", path),
                p99_ms_ratio_to_baseline=r.optional_number(item, "p99_ms_ratio_to_baseline", path),
                rate_limited_min=r.optional_int(item, "rate_limited_min", path, low=0),
                timeouts=r.optional_int(item, "timeouts", path, low=0),
            )
        )
    r.unique([s.name for s in out], "slo.tenants")
    return tuple(out)

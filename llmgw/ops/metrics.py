"""Prometheus metrics of one gateway process, in its own ``CollectorRegistry``.

Updated from ``LiveState.observe`` once per finished call. To keep that a few microseconds,
values live in plain dicts keyed by label tuples (the event loop is the only writer, and
scrapes run on the event loop too) and a custom collector turns them into metric families at
scrape time. Breaker states are read from the breaker board at scrape time as well.

Label cardinality is bounded by the config and the key table: ``model`` and ``provider`` are
names from the config (a requested name that is not a configured model or alias becomes
``other``), ``tenant`` is the path of an issued key (``""`` for calls without a valid key),
``status`` is the call's outcome (``ok``, ``degraded``, ``error``, ``rejected``, ``aborted``),
``error_class`` and ``reason`` are fixed vocabularies.

Which ``model``: ``llmgw_requests_total`` carries the public model the caller asked for; the
token, cost, latency and attempt metrics carry the upstream model that served (with its
provider).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from llmgw.audit.record import AuditRecord
from llmgw.routing.breaker import BreakerBoard
from llmgw.settings.money import NANOS_PER_USD
from llmgw.settings.schema import Settings

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

OTHER = "other"
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
# limit rejections: the error code of the rejected call -> reason label
LIMIT_REASONS = {
    "rate_limit_exceeded": "rate",
    "concurrency_limit_exceeded": "concurrency",
    "budget_exceeded": "budget",
    "limits_unavailable": "unavailable",
}
# seconds; LLM calls run from a fraction of a second to minutes
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class BreakerCollector:
    """``llmgw_breaker_state{deployment}``: 0 closed, 1 half-open, 2 open, read at scrape."""

    def __init__(self, board: BreakerBoard, deployments: list[str]) -> None:
        self._board = board
        self._deployments = deployments

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "llmgw_breaker_state",
            "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.",
            labels=["deployment"],
        )

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        known = dict.fromkeys(self._deployments)
        known.update(dict.fromkeys(self._board.all()))
        for dep in known:
            family.add_metric([dep], BREAKER_VALUES.get(self._board.get(dep).state, 0))
        yield family


class CounterSet:
    """One counter family: label tuple -> value."""

    __slots__ = ("help", "labels", "name", "unit", "values")

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...], unit: int = 1) -> None:
        self.name = name
        self.help = help_text
        self.labels = labels
        self.unit = unit  # stored values are integers of 1/unit of the exposed value
        self.values: dict[tuple[str, ...], int] = {}

    def inc(self, key: tuple[str, ...], amount: int = 1) -> None:
        values = self.values
        values[key] = values.get(key, 0) + amount

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.help, labels=self.labels)
        for key, value in self.values.items():
            family.add_metric(key, value if self.unit == 1 else value / self.unit)
        return family


class HistogramSet:
    """One histogram family: label tuple -> per-bucket counts (not cumulative) and sum."""

    __slots__ = ("bounds", "help", "labels", "name", "values")

    def __init__(
        self, name: str, help_text: str, labels: tuple[str, ...], bounds: tuple[float, ...]
    ) -> None:
        self.name = name
        self.help = help_text
        self.labels = labels
        self.bounds = bounds
        self.values: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        entry = self.values.get(key)
        if entry is None:
            entry = self.values[key] = ([0] * (len(self.bounds) + 1), [0.0])
        entry[0][bisect_left(self.bounds, value)] += 1
        entry[1][0] += value

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.help, labels=self.labels)
        edges = [str(float(b)) for b in self.bounds] + ["+Inf"]
        for key, (counts, total) in self.values.items():
            running = 0
            buckets = []
            for edge, count in zip(edges, counts, strict=True):
                running += count
                buckets.append((edge, running))
            family.add_metric(key, buckets, total[0])
        return family


class CallCollector:
    """Hands the families to the registry at scrape time."""

    def __init__(self, families: list[CounterSet | HistogramSet]) -> None:
        self._families = families

    def describe(self) -> Iterator[Metric]:
        for f in self._families:
            yield (
                CounterMetricFamily(f.name, f.help, labels=f.labels)
                if isinstance(f, CounterSet)
                else HistogramMetricFamily(f.name, f.help, labels=f.labels)
            )

    def collect(self) -> Iterator[Metric]:
        for f in self._families:
            yield f.family()


class Metrics:
    """The gateway's Prometheus metrics; ``render()`` is the text exposition."""

    def __init__(self, settings: Settings, breakers: BreakerBoard | None = None) -> None:
        self.registry = CollectorRegistry()
        self._models: dict[str, str] = {}
        self._upstream: set[str] = set()
        deployments: list[str] = []
        for model in settings.models.values():
            self._models[model.name] = model.name
            for alias in model.aliases:
                self._models[alias] = model.name
            for dep in model.deployments:
                self._upstream.add(dep.model)
                deployments.append(f"{dep.provider}/{dep.model}")
        self._providers = {*settings.providers, "cache"}
        self.requests = CounterSet(
            "llmgw_requests",
            "Calls answered, by tenant, requested model, provider and outcome.",
            ("tenant", "model", "provider", "status"),
        )
        self.tokens = CounterSet(
            "llmgw_tokens",
            "Tokens billed, by direction (input, output, cached input).",
            ("tenant", "model", "provider", "direction"),
        )
        self.cost = CounterSet(
            "llmgw_cost_dollars",
            "Spend in US dollars (a float view; the audit ledger holds the exact figure).",
            ("tenant", "model", "provider"),
            unit=NANOS_PER_USD,  # summed in exact integer nanos, divided at scrape time
        )
        self.duration = HistogramSet(
            "llmgw_request_duration_seconds",
            "Duration of successful calls, first byte in to last byte out.",
            ("model", "provider"),
            DURATION_BUCKETS,
        )
        self.ttft = HistogramSet(
            "llmgw_time_to_first_token_seconds",
            "Time to the first streamed token of successful calls.",
            ("model", "provider"),
            TTFT_BUCKETS,
        )
        self.rejections = CounterSet(
            "llmgw_limit_rejections",
            "Calls refused by tenant limits, by reason (rate, concurrency, budget, unavailable).",
            ("tenant", "reason"),
        )
        self.cache_hits = CounterSet(
            "llmgw_cache_hits",
            "Calls answered from the response cache, by kind (exact, semantic).",
            ("tenant", "kind"),
        )
        self.attempts = CounterSet(
            "llmgw_upstream_attempts",
            "Upstream attempts, by error class (none for a success).",
            ("provider", "model", "error_class"),
        )
        self.registry.register(
            CallCollector(
                [
                    self.requests,
                    self.tokens,
                    self.cost,
                    self.duration,
                    self.ttft,
                    self.rejections,
                    self.cache_hits,
                    self.attempts,
                ]
            )
        )
        if breakers is not None:
            self.registry.register(BreakerCollector(breakers, deployments))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (call on the event loop)."""
        return generate_latest(self.registry)

    def model_label(self, name: str | None) -> str:
        if not name:
            return ""
        return self._models.get(name, OTHER)

    def upstream_label(self, name: str | None) -> str:
        if not name:
            return ""
        return name if name in self._upstream else OTHER

    def provider_label(self, name: str | None) -> str:
        if not name:
            return ""
        return name if name in self._providers else OTHER

    def observe(self, rec: AuditRecord, cost_nanos: int) -> None:
        """Count one finished call; ``cost_nanos`` is its spend (0 for a cache hit)."""
        tenant = rec.tenant
        provider = self.provider_label(rec.provider)
        self.requests.inc((tenant, self.model_label(rec.requested_model), provider, rec.outcome))
        served = self.upstream_label(rec.served_model)
        if rec.input_tokens:
            self.tokens.inc((tenant, served, provider, "input"), rec.input_tokens)
        if rec.output_tokens:
            self.tokens.inc((tenant, served, provider, "output"), rec.output_tokens)
        if rec.cached_tokens:
            self.tokens.inc((tenant, served, provider, "cached"), rec.cached_tokens)
        if cost_nanos:
            self.cost.inc((tenant, served, provider), cost_nanos)
        if rec.outcome == "ok" and provider and provider != "cache":
            self.duration.observe((served, provider), rec.latency_ms / 1000.0)
            if rec.ttft_ms is not None:
                self.ttft.observe((served, provider), rec.ttft_ms / 1000.0)
        if rec.outcome == "rejected":
            reason = LIMIT_REASONS.get(rec.error_class or "")
            if reason is not None:
                self.rejections.inc((tenant, reason))
        for attempt in rec.attempt_log:
            self.attempts.inc(
                (
                    self.provider_label(attempt.get("provider")),
                    self.upstream_label(attempt.get("model")),
                    attempt.get("error_class") or "none",
                )
            )

    def cache_hit(self, tenant: str, kind: str) -> None:
        self.cache_hits.inc((tenant, kind))

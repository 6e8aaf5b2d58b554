"""Typed settings: the schema of ``llmgw.toml``, with every default a named constant.

Loading, validation and the embedded default live in ``llmgw.settings`` (TOML -> these
records); this module is only the shape, so any room can import it without I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

from llmgw.types import Retention

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 120.0
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_DRAIN_TIMEOUT_S = 10.0
DEFAULT_WRITE_TIMEOUT_S = 30.0
DEFAULT_AUDIT_QUEUE = 10_000
DEFAULT_AUDIT_QUEUE_BYTES = 256 * 1024 * 1024
MIN_AUDIT_QUEUE_BYTES = 1024 * 1024
DEFAULT_AUDIT_BATCH = 500
DEFAULT_AUDIT_FLUSH_S = 0.05

ProviderKind = Literal["openai", "anthropic", "gemini", "mock"]
PROVIDER_KINDS: tuple[str, ...] = ("openai", "anthropic", "gemini", "mock")
RETENTIONS: tuple[str, ...] = ("full", "redacted", "metadata")


@dataclass(slots=True, frozen=True)
class ProviderConfig:
    """One upstream account. The API key is read from ``api_key_env`` at start, never stored."""

    name: str
    kind: ProviderKind
    base_url: str | None = None
    api_key_env: str | None = None
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    headers: dict[str, str] = field(default_factory=dict)
    # mock only: knobs passed to the in-process mock engine (see llmgw.providers.mock)
    mock: dict[str, object] = field(default_factory=dict)


STRATEGIES: tuple[str, ...] = ("priority", "weighted", "latency", "cost", "least_busy")


@dataclass(slots=True, frozen=True)
class Deployment:
    """A model served by one provider account: where a public model name can be routed.

    ``id`` (``provider/model``) names it in breakers, metrics, chaos faults and the admin API.
    """

    provider: str
    model: str
    weight: int = 1
    region: str | None = None
    # capacity of the upstream account for this model; None = not limited by the gateway
    max_concurrency: int | None = None
    rpm: int | None = None
    tpm: int | None = None

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(slots=True, frozen=True)
class ModelConfig:
    """A public model name (what callers ask for) and the deployments that can serve it."""

    name: str
    deployments: tuple[Deployment, ...]
    aliases: tuple[str, ...] = ()
    strategy: str = "priority"  # one of STRATEGIES: how the deployments are ordered per call
    fallbacks: tuple[str, ...] = ()  # public models tried after this one's deployments fail
    context_fallback: str | None = None  # public model for context_length_exceeded
    # when the shared limits backend (Redis) is unreachable: None = limits.fail_mode
    limits_fail_mode: Literal["open", "closed"] | None = None


@dataclass(slots=True, frozen=True)
class TenantConfig:
    """One node of the tenant tree (``acme``, ``acme/search``, ``acme/search/prod``).

    ``models`` is None to inherit the parent's allowance; a child can only narrow it.
    ``retention`` is None to inherit (the root default is ``full``).
    """

    path: str
    models: tuple[str, ...] | None = None
    retention: Retention | None = None
    routing: TenantRouting | None = None
    limits: TenantLimits | None = None
    weight: int = 1  # fair-queue share when deployments are short of capacity (tier)
    cache: CacheRule | None = None  # [tenants."x".cache]
    cache_models: dict[str, CacheRule] = field(default_factory=dict)  # per public model


BudgetPeriod = Literal["day", "month", "window"]
BUDGET_PERIODS: tuple[str, ...] = ("day", "month", "window")


@dataclass(slots=True, frozen=True)
class BudgetConfig:
    """A money budget on one tenant node: per UTC day, calendar month, or fixed window.

    ``hard`` budgets reject calls that could overspend them; soft ones only alert. ``model``
    limits the budget to one public model.
    """

    period: BudgetPeriod
    limit_usd: Decimal
    hard: bool = True
    window_s: int | None = None  # period = "window" only
    model: str | None = None


@dataclass(slots=True, frozen=True)
class TenantLimits:
    """Limits on one node of the tenant tree (``[tenants."x".limits]``); None = unlimited."""

    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens (input + output) per minute
    concurrency: int | None = None  # calls in flight at once
    budgets: tuple[BudgetConfig, ...] = ()


@dataclass(slots=True, frozen=True)
class TenantRouting:
    """A tenant's routing policy (``[tenants."x".routing]``); None fields inherit.

    ``providers`` restricts every attempt, failover included, to these provider names: a
    regulated tenant is never routed elsewhere. It narrows down the tenant chain (intersection);
    the other fields are taken from the nearest tenant that sets them.
    """

    providers: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    strategy: str | None = None
    fallbacks: tuple[str, ...] | None = None  # replaces the model's fallback chain
    allow_overrides: bool | None = None  # honour x-llmgw-provider / -strategy / -fallback headers
    degraded_response: str | None = None  # answered (clearly marked) when everything is down
    shadow_model: str | None = None  # public model live calls are mirrored to (audit runs)
    shadow_sample: float | None = None  # share of calls mirrored, in (0, 1]


@dataclass(slots=True, frozen=True)
class Price:
    """Dollars per million tokens for a provider model, effective from a date (inclusive)."""

    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None
    provider: str | None = None
    effective: str = "1970-01-01"


@dataclass(slots=True, frozen=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S
    admin_key_env: str = "LLMGW_ADMIN_KEY"
    write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S  # a client that stops reading is cut off


@dataclass(slots=True, frozen=True)
class BreakerConfig:
    """Circuit breaker per deployment (compare: Envoy outlier detection, resilience4j)."""

    failure_rate: float = 0.5  # open when this share of calls in the window failed ...
    min_calls: int = 10  # ... and the window holds at least this many calls
    window_s: float = 30.0  # sliding time window
    consecutive_failures: int = 5  # or after this many failures in a row
    slow_call_s: float | None = None  # calls slower than this count as failures (None: off)
    open_s: float = 5.0  # first cool-down before half-open
    max_open_s: float = 120.0  # the cool-down doubles on each re-trip, up to this
    half_open_probes: int = 2  # probes admitted in half-open; all must succeed to close
    probe_timeout_s: float = 30.0  # a probe out longer than this frees its slot


@dataclass(slots=True, frozen=True)
class RetryConfig:
    max_attempts: int = 3  # attempts per call across all deployments and fallbacks
    backoff_base_s: float = 0.05  # full jitter: sleep U(0, min(cap, base * 2**n))
    backoff_cap_s: float = 2.0
    budget_ratio: float = 0.2  # retries may add at most 20% to the calls of the window ...
    budget_min_per_s: float = 5.0  # ... plus this many per second
    budget_window_s: float = 10.0


@dataclass(slots=True, frozen=True)
class TimeoutConfig:
    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    first_byte_s: float = 60.0  # until the upstream's response headers
    ttft_s: float = 60.0  # until a stream's first content chunk
    idle_s: float = 30.0  # longest gap between two stream chunks
    total_s: float = 600.0  # the whole call, retries included (the deadline)


@dataclass(slots=True, frozen=True)
class RoutingConfig:
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    stream_resume: bool = True  # continue a stream broken mid-answer on a fallback


@dataclass(slots=True, frozen=True)
class LimitsConfig:
    """How limits and budgets are kept (``[limits]``)."""

    backend: Literal["local", "redis"] = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    fail_mode: Literal["open", "closed"] = "closed"  # when Redis is unreachable
    # Redis timeouts run on the gateway's event loop, so they include its lag. With both cores
    # saturated a lone script call's p99.9 is 8-48 ms, and 72-243 ms with 64 in flight
    # (benchmarks/redis_latency.py, load 3-8.5); but admitting a burst of 300 calls right after
    # start took up to 0.5 s with two CPU hogs (load 3.4) and 4.3 s at load ~10, all of it the
    # loop catching up. 5 s holds that, and outlasts two lost SYNs (1 s + 2 s) on connect.
    redis_connect_timeout_s: float = 5.0  # to open a connection
    redis_timeout_s: float = 5.0  # to get a free pooled connection, and again for the answer
    redis_start_wait_s: float = 5.0  # longest wait for Redis at start before serving anyway
    reserve_margin: Decimal = Decimal("1.10")  # reservations are the worst case x this
    default_max_tokens: int = 4096  # output bound when a call sets none and the model has no cap
    queue_timeout_s: float = 10.0  # longest wait in a deployment's fair queue before 429
    alert_webhook: str | None = None  # POSTed a JSON alert at 50/80/100% of a budget


Durability = Literal["batched", "strict"]
DURABILITIES: tuple[str, ...] = ("batched", "strict")


@dataclass(slots=True, frozen=True)
class AuditConfig:
    # "batched": rows committed within flush_interval_s; "strict": before the answer's last byte
    durability: Durability = "batched"
    queue_size: int = DEFAULT_AUDIT_QUEUE
    queue_max_bytes: int = DEFAULT_AUDIT_QUEUE_BYTES  # bodies waiting for the writer, at most
    batch_size: int = DEFAULT_AUDIT_BATCH
    flush_interval_s: float = DEFAULT_AUDIT_FLUSH_S
    redact_patterns: tuple[str, ...] = ()  # extra regexes redacted when retention = "redacted"
    key_env: str = "LLMGW_AUDIT_KEY"  # holds the key that signs prune checkpoints


CacheMode = Literal["deterministic", "always", "off"]
CACHE_MODES: tuple[str, ...] = ("deterministic", "always", "off")
CacheScope = Literal["key", "tenant", "team", "org"]
CACHE_SCOPES: tuple[str, ...] = ("key", "tenant", "team", "org")


@dataclass(slots=True, frozen=True)
class CacheRule:
    """Response-cache policy on one tenant node, or one (tenant, model); None fields inherit.

    ``mode``: ``deterministic`` caches calls with temperature 0 or a seed, ``always`` every
    call, ``off`` none. ``scope`` is who shares entries: one API ``key``, the key's ``tenant``
    path, its ``team`` (first two path segments) or its ``org`` (first segment), never wider.
    """

    mode: CacheMode | None = None
    scope: CacheScope | None = None
    ttl_s: int | None = None  # how long a stored answer is served
    max_ttl_s: int | None = None  # the most an x-llmgw-cache-ttl header may ask for
    semantic: bool | None = None  # answer paraphrases of cached questions
    semantic_threshold: float | None = None  # cosine similarity a paraphrase must reach
    semantic_tools: bool | None = None  # also calls that declare tools
    semantic_nondeterministic: bool | None = None  # also calls without temperature 0 / seed

    def overlay(self, rule: CacheRule | None) -> CacheRule:
        """This rule with every field that ``rule`` sets replaced (the nearer setting wins)."""
        if rule is None:
            return self
        return CacheRule(
            *(
                getattr(rule, name) if getattr(rule, name) is not None else getattr(self, name)
                for name in CACHE_RULE_FIELDS
            )
        )


CACHE_RULE_FIELDS: tuple[str, ...] = (
    "mode",
    "scope",
    "ttl_s",
    "max_ttl_s",
    "semantic",
    "semantic_threshold",
    "semantic_tools",
    "semantic_nondeterministic",
)

DEFAULT_CACHE_RULE = CacheRule(
    mode="deterministic",
    scope="tenant",
    ttl_s=3600,
    max_ttl_s=86_400,
    semantic=False,
    semantic_threshold=None,  # None: the embedder's calibrated default
    semantic_tools=False,
    semantic_nondeterministic=False,
)


@dataclass(slots=True, frozen=True)
class CacheConfig:
    """The response cache (``[cache]``): store-wide caps and the root of the tenant policy."""

    enabled: bool = True
    max_entries: int = 500_000  # across all tenants; least recently used go first
    max_bytes: int = 1024 * 1024 * 1024  # stored answers, prompts and vectors
    embedder: str = "minilm-l6-v2-int8"
    defaults: CacheRule = DEFAULT_CACHE_RULE


@dataclass(slots=True, frozen=True)
class Settings:
    """Everything ``llmgw serve`` runs on."""

    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    tenants: dict[str, TenantConfig]
    pricing: tuple[Price, ...] = ()
    server: ServerConfig = field(default_factory=ServerConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    source: Path | None = None  # the file it came from; None for the embedded default
    embedded: bool = False  # true for the no-config default (mock providers, demo tenant)

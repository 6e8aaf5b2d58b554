"""Typed settings: the schema of ``llmgw.toml``, with every default a named constant.

Loading, validation and the embedded default live in ``llmgw.settings`` (TOML -> these
records); this module is only the shape, so any room can import it without I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 120.0
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_DRAIN_TIMEOUT_S = 10.0
DEFAULT_AUDIT_QUEUE = 10_000
DEFAULT_AUDIT_BATCH = 500
DEFAULT_AUDIT_FLUSH_S = 0.05

ProviderKind = Literal["openai", "anthropic", "gemini", "mock"]
PROVIDER_KINDS: tuple[str, ...] = ("openai", "anthropic", "gemini", "mock")
Retention = Literal["full", "redacted", "metadata"]
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


@dataclass(slots=True, frozen=True)
class Deployment:
    """A model served by one provider account: where a public model name can be routed."""

    provider: str
    model: str
    weight: int = 1


@dataclass(slots=True, frozen=True)
class ModelConfig:
    """A public model name (what callers ask for) and the deployments that can serve it."""

    name: str
    deployments: tuple[Deployment, ...]
    aliases: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class TenantConfig:
    """One node of the tenant tree (``acme``, ``acme/search``, ``acme/search/prod``).

    ``models`` is None to inherit the parent's allowance; a child can only narrow it.
    ``retention`` is None to inherit (the root default is ``full``).
    """

    path: str
    models: tuple[str, ...] | None = None
    retention: Retention | None = None


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


@dataclass(slots=True, frozen=True)
class AuditConfig:
    queue_size: int = DEFAULT_AUDIT_QUEUE
    batch_size: int = DEFAULT_AUDIT_BATCH
    flush_interval_s: float = DEFAULT_AUDIT_FLUSH_S


@dataclass(slots=True, frozen=True)
class Settings:
    """Everything ``llmgw serve`` runs on."""

    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    tenants: dict[str, TenantConfig]
    pricing: tuple[Price, ...] = ()
    server: ServerConfig = field(default_factory=ServerConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    source: Path | None = None  # the file it came from; None for the embedded default
    embedded: bool = False  # true for the no-config default (mock providers, demo tenant)

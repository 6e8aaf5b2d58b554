"""Validation of a parsed ``llmgw.toml`` document into the records of ``llmgw.settings.schema``.

``parse_settings(data, file)`` takes what ``tomllib`` returned and either builds a ``Settings``
or raises ``ConfigError`` naming the file, the dotted key path (TOML spelling, e.g.
``tenants."acme/search".models``) and what is wrong. Pure: no file or environment access.
The accepted keys are documented in the module docstring of ``llmgw.settings``; the routing
sections are read by ``llmgw.settings.routing``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from llmgw.settings.audit import DEFAULT_KEY_ENV, AuditSecurity, check_patterns
from llmgw.settings.cache import CacheReader
from llmgw.settings.fields import ConfigError, key_join, type_name
from llmgw.settings.routing import name_index
from llmgw.settings.schema import (
    DEFAULT_AUDIT_BATCH,
    DEFAULT_AUDIT_FLUSH_S,
    DEFAULT_AUDIT_QUEUE,
    DEFAULT_AUDIT_QUEUE_BYTES,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_DRAIN_TIMEOUT_S,
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PORT,
    DEFAULT_READ_TIMEOUT_S,
    DEFAULT_WRITE_TIMEOUT_S,
    DURABILITIES,
    MIN_AUDIT_QUEUE_BYTES,
    PROVIDER_KINDS,
    RETENTIONS,
    STRATEGIES,
    AuditConfig,
    CacheRule,
    Deployment,
    ModelConfig,
    Price,
    ProviderConfig,
    ProviderKind,
    ServerConfig,
    Settings,
    TenantConfig,
)
from llmgw.settings.sections import (
    AUDIT_KEYS,
    DEFAULT_BASE_URLS,
    DEFAULT_KEY_ENVS,
    DEPLOYMENT_KEYS,
    MOCK_KEYS,
    MODEL_KEYS,
    PRICE_KEYS,
    PROVIDER_KEYS,
    SERVER_KEYS,
    TENANT_KEYS,
    TENANT_PATH_RE,
    TOP_KEYS,
)
from llmgw.types import Retention

__all__ = [
    "TENANT_PATH_RE",
    "ConfigError",
    "key_join",
    "parse_audit_security",
    "parse_settings",
]


class _Parser(CacheReader):
    """Walks the document section by section."""

    def settings(self, data: dict[str, Any]) -> Settings:
        self.check_keys(data, TOP_KEYS, "")
        providers = self.providers(self.table(data.get("providers", {}), "providers"))
        models = self.models(self.table(data.get("models", {}), "models"), providers)
        tenants = self.tenants(self.table(data.get("tenants", {}), "tenants"), models, providers)
        return Settings(
            providers=providers,
            models=models,
            tenants=tenants,
            pricing=self.pricing(data.get("pricing", [])),
            server=self.server(self.table(data.get("server", {}), "server")),
            audit=self.audit(self.table(data.get("audit", {}), "audit")),
            routing=self.routing(self.table(data.get("routing", {}), "routing")),
            limits=self.limits(self.table(data.get("limits", {}), "limits")),
            cache=self.cache(self.table(data.get("cache", {}), "cache")),
            source=Path(self.file) if self.file is not None else None,
        )

    def server(self, t: dict[str, Any]) -> ServerConfig:
        self.check_keys(t, SERVER_KEYS, "server")
        return ServerConfig(
            host=self.string(t, "host", "server", DEFAULT_HOST),
            port=self.integer(t, "port", "server", DEFAULT_PORT, 0, 65535),
            max_body_bytes=self.integer(t, "max_body_bytes", "server", DEFAULT_MAX_BODY_BYTES, 1),
            drain_timeout_s=self.number(
                t, "drain_timeout_s", "server", DEFAULT_DRAIN_TIMEOUT_S, positive=False
            ),
            admin_key_env=self.string(t, "admin_key_env", "server", "LLMGW_ADMIN_KEY"),
            write_timeout_s=self.number(
                t, "write_timeout_s", "server", DEFAULT_WRITE_TIMEOUT_S, positive=True
            ),
        )

    def audit(self, t: dict[str, Any]) -> AuditConfig:
        security = self.audit_security(t)
        return AuditConfig(
            redact_patterns=security.redact_patterns,
            key_env=security.key_env,
            durability=self.choice(  # type: ignore[arg-type]
                t, "durability", "audit", DURABILITIES, "durability"
            )
            or "batched",
            queue_size=self.integer(t, "queue_size", "audit", DEFAULT_AUDIT_QUEUE, 1),
            queue_max_bytes=self.integer(
                t, "queue_max_bytes", "audit", DEFAULT_AUDIT_QUEUE_BYTES, MIN_AUDIT_QUEUE_BYTES
            ),
            batch_size=self.integer(t, "batch_size", "audit", DEFAULT_AUDIT_BATCH, 1),
            flush_interval_s=self.number(t, "flush_interval_s", "audit", DEFAULT_AUDIT_FLUSH_S),
        )

    def audit_security(self, t: dict[str, Any]) -> AuditSecurity:
        """``[audit] redact_patterns`` and ``key_env`` (see ``llmgw.settings.audit``)."""
        self.check_keys(t, AUDIT_KEYS, "audit")
        patterns = self.string_list(t, "redact_patterns", "audit") or ()
        try:
            patterns = check_patterns(patterns)
        except ValueError as exc:
            raise self.error("audit.redact_patterns", str(exc).split(": ", 1)[1]) from None
        return AuditSecurity(
            redact_patterns=patterns,
            key_env=self.string(t, "key_env", "audit", DEFAULT_KEY_ENV),
        )

    def providers(self, section: dict[str, Any]) -> dict[str, ProviderConfig]:
        return {
            name: self.provider(name, self.table(raw, key_join("providers", name)))
            for name, raw in section.items()
        }

    def provider(self, name: str, t: dict[str, Any]) -> ProviderConfig:
        path = key_join("providers", name)
        if "api_key" in t:
            raise self.error(
                key_join(path, "api_key"),
                "API keys are not read from the config file; put the key in an environment "
                "variable and name it with api_key_env",
            )
        self.check_keys(t, PROVIDER_KEYS, path)
        kind = self.string(t, "kind", path)
        if kind not in PROVIDER_KINDS:
            raise self.error(
                key_join(path, "kind"),
                f"unknown provider kind {kind!r} (expected one of: {', '.join(PROVIDER_KINDS)})",
            )
        mock: dict[str, object] = {}
        if "mock" in t:
            if kind != "mock":
                raise self.error(key_join(path, "mock"), 'only a kind = "mock" provider has it')
            mock = self.mock_knobs(self.table(t["mock"], key_join(path, "mock")), path)
        return ProviderConfig(
            name=name,
            kind=cast(ProviderKind, kind),
            base_url=self.string(t, "base_url", path, DEFAULT_BASE_URLS.get(kind)),
            api_key_env=self.string(t, "api_key_env", path, DEFAULT_KEY_ENVS.get(kind)),
            connect_timeout_s=self.number(t, "connect_timeout_s", path, DEFAULT_CONNECT_TIMEOUT_S),
            read_timeout_s=self.number(t, "read_timeout_s", path, DEFAULT_READ_TIMEOUT_S),
            max_connections=self.integer(t, "max_connections", path, DEFAULT_MAX_CONNECTIONS, 1),
            headers=self.headers(t, path),
            mock=mock,
        )

    def headers(self, t: dict[str, Any], path: str) -> dict[str, str]:
        where = key_join(path, "headers")
        raw = self.table(t.get("headers", {}), where)
        for key, value in raw.items():
            if not isinstance(value, str):
                raise self.error(key_join(where, key), f"expected a string, got {type_name(value)}")
        return dict(raw)

    def mock_knobs(self, t: dict[str, Any], provider_path: str) -> dict[str, object]:
        path = key_join(provider_path, "mock")
        self.check_keys(t, MOCK_KEYS, path)
        knobs: dict[str, object] = {}
        if "ttft_ms" in t:
            knobs["ttft_ms"] = self.number(t, "ttft_ms", path, 0.0, positive=False)
        if "tokens_per_s" in t:
            knobs["tokens_per_s"] = self.number(t, "tokens_per_s", path, 0.0)
        if "output_tokens" in t:
            knobs["output_tokens"] = self.integer(t, "output_tokens", path, 0, 1)
        return knobs

    def models(
        self, section: dict[str, Any], providers: dict[str, ProviderConfig]
    ) -> dict[str, ModelConfig]:
        models: dict[str, ModelConfig] = {}
        owner: dict[str, str] = {}  # alias -> the model that declared it
        for name, raw in section.items():
            model = self.model(name, self.table(raw, key_join("models", name)), providers)
            models[name] = model
            for alias in model.aliases:
                owner.setdefault(alias, name)
        for name, model in models.items():
            seen: set[str] = set()
            for alias in model.aliases:
                where = key_join(key_join("models", name), "aliases")
                if alias in models:
                    raise self.error(where, f"alias {alias!r} collides with model {alias!r}")
                if alias in seen:
                    raise self.error(where, f"alias {alias!r} is listed twice")
                if owner[alias] != name:
                    raise self.error(
                        where, f"alias {alias!r} is also an alias of model {owner[alias]!r}"
                    )
                seen.add(alias)
        return self.link_models(models)

    def model(
        self, name: str, t: dict[str, Any], providers: dict[str, ProviderConfig]
    ) -> ModelConfig:
        path = key_join("models", name)
        self.check_keys(t, MODEL_KEYS, path)
        aliases = self.string_list(t, "aliases", path) or ()
        raw = t.get("deployments")
        where = key_join(path, "deployments")
        if raw is None or raw == []:
            raise self.error(where, "a model needs at least one deployment")
        if not isinstance(raw, list):
            raise self.error(where, f"expected an array of tables, got {type_name(raw)}")
        deployments: list[Deployment] = []
        ids: set[str] = set()
        for i, item in enumerate(raw):
            dpath = f"{where}[{i}]"
            d = self.table(item, dpath)
            self.check_keys(d, DEPLOYMENT_KEYS, dpath)
            provider = self.string(d, "provider", dpath)
            if provider not in providers:
                known = ", ".join(sorted(providers)) or "none declared"
                raise self.error(
                    key_join(dpath, "provider"),
                    f"unknown provider {provider!r} (providers: {known})",
                )
            deployment = Deployment(
                provider=provider,
                model=self.string(d, "model", dpath),
                weight=self.integer(d, "weight", dpath, 1, 1),
                region=self.string(d, "region", dpath, None),
                **self.capacity(d, dpath),
            )
            if deployment.id in ids:
                raise self.error(dpath, f"deployment {deployment.id!r} is listed twice")
            ids.add(deployment.id)
            deployments.append(deployment)
        context_fallback = self.string(t, "context_fallback", path, None)
        return ModelConfig(  # fallback names are resolved and checked by link_models
            name=name,
            deployments=tuple(deployments),
            aliases=aliases,
            strategy=self.choice(t, "strategy", path, STRATEGIES, "strategy") or "priority",
            fallbacks=self.string_list(t, "fallbacks", path) or (),
            context_fallback=context_fallback,
            limits_fail_mode=self.choice(  # type: ignore[arg-type]
                t, "limits_fail_mode", path, ("open", "closed"), "fail mode"
            ),
        )

    def tenants(
        self,
        section: dict[str, Any],
        models: dict[str, ModelConfig],
        providers: dict[str, ProviderConfig],
    ) -> dict[str, TenantConfig]:
        index = name_index(models)
        names = set(index)
        tenants: dict[str, TenantConfig] = {}
        for tpath, raw in section.items():
            path = key_join("tenants", tpath)
            if not TENANT_PATH_RE.match(tpath):
                raise self.error(
                    path,
                    f"bad tenant path {tpath!r}: use '/'-separated segments of a-z, 0-9, '_' "
                    "and '-', none empty",
                )
            t = self.table(raw, path)
            self.check_keys(t, TENANT_KEYS, path)
            allowed = self.string_list(t, "models", path)
            for i, model in enumerate(allowed or ()):
                if model != "*" and model not in names:
                    raise self.error(
                        f"{key_join(path, 'models')}[{i}]",
                        f"unknown model or alias {model!r}",
                    )
            retention = self.string(t, "retention", path, None)
            if retention is not None and retention not in RETENTIONS:
                raise self.error(
                    key_join(path, "retention"),
                    f"unknown retention {retention!r} (expected one of: {', '.join(RETENTIONS)})",
                )
            routing = None
            if "routing" in t:
                rpath = key_join(path, "routing")
                routing = self.tenant_routing(
                    self.table(t["routing"], rpath), rpath, providers, models
                )
            limits = None
            if "limits" in t:
                lpath = key_join(path, "limits")
                limits = self.tenant_limits(self.table(t["limits"], lpath), lpath, index)
            cache: CacheRule | None = None
            cache_models: dict[str, CacheRule] = {}
            if "cache" in t:
                cpath = key_join(path, "cache")
                cache, cache_models = self.tenant_cache(self.table(t["cache"], cpath), cpath, index)
            tenants[tpath] = TenantConfig(
                path=tpath,
                models=allowed,
                retention=cast(Retention | None, retention),
                routing=routing,
                limits=limits,
                weight=self.tenant_weight(t, path),
                cache=cache,
                cache_models=cache_models,
            )
        return tenants

    def pricing(self, raw: object) -> tuple[Price, ...]:
        if not isinstance(raw, list):
            raise self.error("pricing", f"expected an array of tables, got {type_name(raw)}")
        prices: list[Price] = []
        for i, item in enumerate(raw):
            path = f"pricing[{i}]"
            t = self.table(item, path)
            self.check_keys(t, PRICE_KEYS, path)
            prices.append(
                Price(
                    model=self.string(t, "model", path),
                    provider=self.string(t, "provider", path, None),
                    input_per_mtok=cast(Decimal, self.money(t, "input_per_mtok", path, True)),
                    output_per_mtok=cast(Decimal, self.money(t, "output_per_mtok", path, True)),
                    cached_input_per_mtok=self.money(t, "cached_input_per_mtok", path, False),
                    effective=self.date(t, "effective", path),
                )
            )
        return tuple(prices)


def parse_audit_security(data: dict[str, Any], file: Path | str | None = None) -> AuditSecurity:
    """The ``[audit]`` redaction and checkpoint-key settings of a parsed TOML document."""
    parser = _Parser(file)
    return parser.audit_security(parser.table(data.get("audit", {}), "audit"))


def parse_settings(data: dict[str, Any], file: Path | str | None = None) -> Settings:
    """Validate a parsed TOML document into ``Settings``; raise ``ConfigError`` on any flaw."""
    return _Parser(file).settings(data)

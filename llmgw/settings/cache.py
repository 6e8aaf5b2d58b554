"""Validation of the response-cache parts of ``llmgw.toml``.

``CacheReader`` extends ``LimitsReader`` with the readers ``llmgw.settings.parse`` calls for:

- ``[cache]``: the store-wide switches and caps, and the root defaults of the tenant policy;
- ``[tenants."x".cache]`` with ``[tenants."x".cache.models."<model>"]``: a tenant's policy and
  its per-model overrides.

Errors name the file and the TOML key path, like every other settings error. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, cast

from llmgw.settings.fields import key_join
from llmgw.settings.limits import LimitsReader
from llmgw.settings.schema import (
    CACHE_MODES,
    CACHE_RULE_FIELDS,
    CACHE_SCOPES,
    DEFAULT_CACHE_RULE,
    CacheConfig,
    CacheMode,
    CacheRule,
    CacheScope,
)

RULE_KEYS = CACHE_RULE_FIELDS
CACHE_KEYS = ("enabled", "max_entries", "max_bytes", "embedder", *RULE_KEYS)
TENANT_CACHE_KEYS = (*RULE_KEYS, "models")
EMBEDDERS = ("minilm-l6-v2-int8",)
MAX_TTL_S = 365 * 86_400


class CacheReader(LimitsReader):
    """Readers for the cache settings; mixed into the settings parser."""

    def cache(self, t: dict[str, Any]) -> CacheConfig:
        path, d = "cache", CacheConfig()
        self.check_keys(t, CACHE_KEYS, path)
        embedder = self.choice(t, "embedder", path, EMBEDDERS, "embedder") or d.embedder
        rule = self.cache_rule(t, path)
        merged = DEFAULT_CACHE_RULE.overlay(rule)
        return CacheConfig(
            enabled=self.boolean(t, "enabled", path, d.enabled),
            max_entries=self.integer(t, "max_entries", path, d.max_entries, 1),
            max_bytes=self.integer(t, "max_bytes", path, d.max_bytes, 1024),
            embedder=embedder,
            defaults=merged,
        )

    def cache_rule(self, t: dict[str, Any], path: str) -> CacheRule:
        """The policy keys of one cache table (absent keys stay None: inherited)."""
        ttl = self.optional_int(t, "ttl_s", path, low=0)
        max_ttl = self.optional_int(t, "max_ttl_s", path, low=0)
        for key, value in (("ttl_s", ttl), ("max_ttl_s", max_ttl)):
            if value is not None and value > MAX_TTL_S:
                raise self.error(key_join(path, key), f"{value} is more than a year")
        threshold = None
        if "semantic_threshold" in t:
            threshold = self.number(t, "semantic_threshold", path, 0.0)
            if threshold > 1:
                raise self.error(
                    key_join(path, "semantic_threshold"),
                    f"{threshold:g} is out of range (a cosine similarity in (0, 1])",
                )
        return CacheRule(
            mode=cast(CacheMode | None, self.choice(t, "mode", path, CACHE_MODES, "cache mode")),
            scope=cast(
                CacheScope | None, self.choice(t, "scope", path, CACHE_SCOPES, "cache scope")
            ),
            ttl_s=ttl,
            max_ttl_s=max_ttl,
            semantic=self.boolean(t, "semantic", path, None),
            semantic_threshold=threshold,
            semantic_tools=self.boolean(t, "semantic_tools", path, None),
            semantic_nondeterministic=self.boolean(t, "semantic_nondeterministic", path, None),
        )

    def tenant_cache(
        self, t: dict[str, Any], path: str, index: dict[str, str]
    ) -> tuple[CacheRule, dict[str, CacheRule]]:
        """A tenant's cache rule and its per-model rules (keyed by public model name)."""
        self.check_keys(t, TENANT_CACHE_KEYS, path)
        rule = self.cache_rule(t, path)
        per_model: dict[str, CacheRule] = {}
        mpath = key_join(path, "models")
        for name, raw in self.table(t.get("models", {}), mpath).items():
            where = key_join(mpath, name)
            model = index.get(name)
            if model is None:
                raise self.error(where, f"unknown model or alias {name!r}")
            sub = self.table(raw, where)
            self.check_keys(sub, RULE_KEYS, where)
            per_model[model] = self.cache_rule(sub, where)
        return rule, per_model

"""Validation of the routing parts of ``llmgw.toml``.

``RoutingReader`` extends ``FieldReader`` with the readers ``llmgw.settings.parse`` calls for:

- ``[routing]`` with ``[routing.breaker]``, ``[routing.retry]`` and ``[routing.timeouts]``;
- a model's ``fallbacks`` and ``context_fallback`` (``link_models``: names resolve to public
  model names, aliases included; no self reference, no duplicates, no cycle across models);
- ``[tenants."x".routing]`` (``tenant_routing``), including the shadow-traffic keys
  ``shadow_model`` (a public model or alias that live calls are mirrored to) and
  ``shadow_sample`` (the share of calls mirrored, in (0, 1], default 0.1), read by
  ``llmgw.replay.shadow``.

Errors name the file and the TOML key path, like every other settings error. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from llmgw.settings.fields import FieldReader, key_join
from llmgw.settings.schema import (
    STRATEGIES,
    BreakerConfig,
    ModelConfig,
    ProviderConfig,
    RetryConfig,
    RoutingConfig,
    TenantRouting,
    TimeoutConfig,
)

ROUTING_KEYS = ("stream_resume", "breaker", "retry", "timeouts")
BREAKER_KEYS = (
    "failure_rate",
    "min_calls",
    "window_s",
    "consecutive_failures",
    "slow_call_s",
    "open_s",
    "max_open_s",
    "half_open_probes",
    "probe_timeout_s",
)
RETRY_KEYS = (
    "max_attempts",
    "backoff_base_s",
    "backoff_cap_s",
    "budget_ratio",
    "budget_min_per_s",
    "budget_window_s",
)
TIMEOUT_KEYS = ("connect_s", "first_byte_s", "ttft_s", "idle_s", "total_s")
TENANT_ROUTING_KEYS = (
    "providers",
    "regions",
    "strategy",
    "fallbacks",
    "allow_overrides",
    "degraded_response",
    "shadow_model",
    "shadow_sample",
)
DEFAULT_SHADOW_SAMPLE = 0.1


def name_index(models: dict[str, ModelConfig]) -> dict[str, str]:
    """Public name or alias -> public model name (public names win over aliases)."""
    index = {alias: m.name for m in models.values() for alias in m.aliases}
    index.update({name: name for name in models})
    return index


class RoutingReader(FieldReader):
    """Readers for the routing settings; mixed into the settings parser."""

    # -- [routing] ---------------------------------------------------------------------------

    def routing(self, t: dict[str, Any]) -> RoutingConfig:
        self.check_keys(t, ROUTING_KEYS, "routing")
        return RoutingConfig(
            breaker=self.breaker(self.table(t.get("breaker", {}), "routing.breaker")),
            retry=self.retry(self.table(t.get("retry", {}), "routing.retry")),
            timeouts=self.timeouts(self.table(t.get("timeouts", {}), "routing.timeouts")),
            stream_resume=self.boolean(t, "stream_resume", "routing", True),
        )

    def breaker(self, t: dict[str, Any]) -> BreakerConfig:
        path, d = "routing.breaker", BreakerConfig()
        self.check_keys(t, BREAKER_KEYS, path)
        open_s = self.number(t, "open_s", path, d.open_s)
        max_open_s = self.number(t, "max_open_s", path, d.max_open_s)
        if max_open_s < open_s:
            raise self.error(key_join(path, "max_open_s"), f"must be at least open_s ({open_s:g})")
        return BreakerConfig(
            failure_rate=self.rate(t, "failure_rate", path, d.failure_rate),
            min_calls=self.integer(t, "min_calls", path, d.min_calls, 1),
            window_s=self.number(t, "window_s", path, d.window_s),
            consecutive_failures=self.integer(
                t, "consecutive_failures", path, d.consecutive_failures, 1
            ),
            slow_call_s=self.optional_number(t, "slow_call_s", path),
            open_s=open_s,
            max_open_s=max_open_s,
            half_open_probes=self.integer(t, "half_open_probes", path, d.half_open_probes, 1),
            probe_timeout_s=self.number(t, "probe_timeout_s", path, d.probe_timeout_s),
        )

    def retry(self, t: dict[str, Any]) -> RetryConfig:
        path, d = "routing.retry", RetryConfig()
        self.check_keys(t, RETRY_KEYS, path)
        base = self.number(t, "backoff_base_s", path, d.backoff_base_s)
        cap = self.number(t, "backoff_cap_s", path, d.backoff_cap_s)
        if cap < base:
            raise self.error(
                key_join(path, "backoff_cap_s"), f"must be at least backoff_base_s ({base:g})"
            )
        return RetryConfig(
            max_attempts=self.integer(t, "max_attempts", path, d.max_attempts, 1),
            backoff_base_s=base,
            backoff_cap_s=cap,
            budget_ratio=self.rate(t, "budget_ratio", path, d.budget_ratio),
            budget_min_per_s=self.number(
                t, "budget_min_per_s", path, d.budget_min_per_s, positive=False
            ),
            budget_window_s=self.number(t, "budget_window_s", path, d.budget_window_s),
        )

    def timeouts(self, t: dict[str, Any]) -> TimeoutConfig:
        path, d = "routing.timeouts", TimeoutConfig()
        self.check_keys(t, TIMEOUT_KEYS, path)
        return TimeoutConfig(
            connect_s=self.number(t, "connect_s", path, d.connect_s),
            first_byte_s=self.number(t, "first_byte_s", path, d.first_byte_s),
            ttft_s=self.number(t, "ttft_s", path, d.ttft_s),
            idle_s=self.number(t, "idle_s", path, d.idle_s),
            total_s=self.number(t, "total_s", path, d.total_s),
        )

    # -- models ------------------------------------------------------------------------------

    def link_models(self, models: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        """Resolve every model's ``fallbacks`` / ``context_fallback`` to public model names.

        Raises on an unknown name, a model naming itself, a name listed twice, and a cycle
        of fallbacks across models (``a -> b -> a``).
        """
        index = name_index(models)
        linked: dict[str, ModelConfig] = {}
        for name, model in models.items():
            path = key_join("models", name)
            fallbacks = self._model_names(model.fallbacks, key_join(path, "fallbacks"), index)
            if name in fallbacks:
                i = fallbacks.index(name)
                raise self.error(
                    f"{key_join(path, 'fallbacks')}[{i}]", "a model cannot fall back to itself"
                )
            context = model.context_fallback
            if context is not None:
                where = key_join(path, "context_fallback")
                context = self._model_names((context,), where, index, indexed=False)[0]
                if context == name:
                    raise self.error(where, "a model cannot fall back to itself")
            linked[name] = replace(model, fallbacks=fallbacks, context_fallback=context)
        self._check_cycles(linked)
        return linked

    def _model_names(
        self, names: tuple[str, ...], where: str, index: dict[str, str], indexed: bool = True
    ) -> tuple[str, ...]:
        """``names`` resolved to public model names; unknown or repeated names are errors."""
        out: list[str] = []
        for i, raw in enumerate(names):
            at = f"{where}[{i}]" if indexed else where
            public = index.get(raw)
            if public is None:
                raise self.error(at, f"unknown model or alias {raw!r}")
            if public in out:
                raise self.error(at, f"model {public!r} is listed twice")
            out.append(public)
        return tuple(out)

    def _check_cycles(self, models: dict[str, ModelConfig]) -> None:
        """Depth-first search over fallback edges; the first cycle found is the error."""
        done: set[str] = set()
        for start in models:
            if start in done:
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            on_path = [start]
            while stack:
                node, i = stack[-1]
                edges = models[node].fallbacks
                if i == len(edges):
                    stack.pop()
                    on_path.pop()
                    done.add(node)
                    continue
                stack[-1] = (node, i + 1)
                nxt = edges[i]
                if nxt in on_path:
                    cycle = [*on_path[on_path.index(nxt) :], nxt]
                    raise self.error(
                        key_join(key_join("models", node), "fallbacks"),
                        f"fallback cycle: {' -> '.join(cycle)}",
                    )
                if nxt not in done:
                    stack.append((nxt, 0))
                    on_path.append(nxt)

    # -- [tenants."x".routing] ---------------------------------------------------------------

    def tenant_routing(
        self,
        t: dict[str, Any],
        path: str,
        providers: dict[str, ProviderConfig],
        models: dict[str, ModelConfig],
    ) -> TenantRouting:
        self.check_keys(t, TENANT_ROUTING_KEYS, path)
        names = self._nonempty_list(t, "providers", path)
        for i, provider in enumerate(names or ()):
            if provider not in providers:
                known = ", ".join(sorted(providers)) or "none declared"
                raise self.error(
                    f"{key_join(path, 'providers')}[{i}]",
                    f"unknown provider {provider!r} (providers: {known})",
                )
        fallbacks = self.string_list(t, "fallbacks", path)
        if fallbacks is not None:
            fallbacks = self._model_names(
                fallbacks, key_join(path, "fallbacks"), name_index(models)
            )
        shadow = self.shadow(t, path, models)
        return TenantRouting(
            providers=names,
            regions=self._nonempty_list(t, "regions", path),
            strategy=self.choice(t, "strategy", path, STRATEGIES, "strategy"),
            fallbacks=fallbacks,
            allow_overrides=self.boolean(t, "allow_overrides", path, None),
            degraded_response=self.string(t, "degraded_response", path, None),
            shadow_model=shadow[0] if shadow else None,
            shadow_sample=shadow[1] if shadow else None,
        )

    def shadow(
        self, t: dict[str, Any], path: str, models: dict[str, ModelConfig]
    ) -> tuple[str, float] | None:
        """The validated ``(shadow_model, shadow_sample)`` of a tenant routing table, or None."""
        model = self.string(t, "shadow_model", path, None)
        if model is None:
            if "shadow_sample" in t:
                raise self.error(key_join(path, "shadow_sample"), "set shadow_model with it")
            return None
        public = name_index(models).get(model)
        if public is None:
            raise self.error(key_join(path, "shadow_model"), f"unknown model or alias {model!r}")
        return public, self.rate(t, "shadow_sample", path, DEFAULT_SHADOW_SAMPLE)

    def _nonempty_list(self, t: dict[str, Any], key: str, path: str) -> tuple[str, ...] | None:
        values = self.string_list(t, key, path)
        if values == ():
            raise self.error(
                key_join(path, key), f"an empty list allows nothing; omit {key} to allow any"
            )
        return values

"""``llmgw init``: write a commented starter ``llmgw.toml``.

The file runs as written (a mock provider, two mock models, tenants ``acme`` and
``acme/search``) and shows, commented out, how to add OpenAI, Anthropic and Gemini accounts,
a tenant routing policy, tenant rate limits and budgets, a tenant cache policy, ``[cache]``,
the ``[routing]`` and ``[limits]``
defaults and a pricing override. Each section's
data is rendered with tomli-w so the file is always valid TOML; ``starter_toml()`` builds the
text and is what ``examples/llmgw.toml`` holds.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import tomli_w
import typer

from llmgw.cli.common import console, fail
from llmgw.settings.schema import LimitsConfig, RoutingConfig

HEADER = """\
# llmgw.toml: configuration of the llmgw gateway.
#
# Run it:   llmgw serve --config llmgw.toml
# Every key, its default and its meaning: see the "Configuration" section of the README.
# API keys never go in this file: a provider names the environment variable that holds its key.
"""

SERVER_NOTE = """\
# Where the gateway listens. The admin API key is read from the variable named here.
"""

AUDIT_NOTE = """\
# The audit log: rows wait in a queue and are written in batches, off the request path.
"""

MOCK_NOTE = """\
# Providers: one table per upstream account. "mock" is the built-in fake provider: it answers
# instantly and needs no key. ttft_ms = time to first token, tokens_per_s = streaming speed,
# output_tokens = length of each answer.
"""

REAL_PROVIDERS_NOTE = """\
# Real providers: uncomment one, export its key (e.g. export OPENAI_API_KEY=sk-...), and add a
# model below that deploys to it. base_url and api_key_env shown are the defaults for the kind;
# point an "openai" provider at any OpenAI-compatible server (vLLM, Ollama) with base_url.
"""

MODELS_NOTE = """\
# Models: the names callers send as "model". Each has one or more deployments (provider +
# the provider's own model name); weight shares traffic among them, and the others take over
# when one fails. Aliases are extra names for the same model.
"""

REAL_MODELS_NOTE = """\
# Models on real providers (uncomment together with their provider above). A model may list
# deployments on several providers for failover. To serve a name used as an alias above (say
# "gpt-4o-mini") from a real provider, remove that alias from the mock model first.
"""

TENANTS_NOTE = """\
# Tenants: a tree of paths. Virtual keys belong to a tenant (llmgw keys create --tenant acme).
# models = ["*"] allows every model; a child tenant can only narrow its parent's list.
# retention: "full" keeps prompts and answers in the audit log, "redacted" masks secrets and
# personal data, "metadata" keeps only counts, costs and timings.
"""

TENANT_ROUTING_NOTE = """\
# A tenant routing policy: providers (and regions, matched against a deployment's region) limit
# every attempt of the tenant's calls, failover included; a child can only narrow them.
# strategy and fallbacks replace the model's; allow_overrides lets callers send the headers
# x-llmgw-provider, x-llmgw-strategy and x-llmgw-fallback: none; degraded_response is answered
# (clearly marked) when every deployment is down.
"""

ROUTING_NOTE = """\
# Routing defaults. breaker: a deployment stops receiving calls when failure_rate of at least
# min_calls calls in window_s failed, or after consecutive_failures; it is probed again after
# open_s (doubling up to max_open_s); slow_call_s = 2.0 would also count slow calls as failures.
# retry: attempts per call across deployments and fallbacks, with jittered backoff and a retry
# budget. timeouts: per phase, total_s is the whole call. stream_resume continues a stream that
# breaks mid-answer on another deployment.
"""

TENANT_LIMITS_NOTE = """\
# Tenant limits: rpm (requests/min), tpm (input + output tokens/min) and concurrency (calls in
# flight) per tenant node; a call must fit every node from the org down. Budgets in dollars per
# UTC day, calendar month or fixed window (window_s seconds): a hard budget rejects calls that
# could overspend it, a soft one only alerts (at 50/80/100%); model limits a budget to one model.
# weight is the tenant's share when deployments are short of capacity.
"""

LIMITS_NOTE = """\
# How limits are kept: backend "local" (one process) or "redis" (shared by replicas; fail_mode
# "closed" rejects calls while Redis is unreachable, "open" admits them; redis_*: seconds to
# connect, to get an answer, and to wait for Redis at start). Each call reserves its
# worst-case cost (input + max_tokens, or default_max_tokens, at list price) x reserve_margin
# until it is settled. queue_timeout_s: longest wait for a deployment with free capacity.
# alert_webhook = "https://hooks.example.com/llmgw" receives budget alerts as JSON.
# A deployment's capacity: add max_concurrency, rpm and tpm to its entry under [models].
"""

PRICING_NOTE = """\
# Pricing: llmgw ships a price table; add or override entries here, in dollars per million
# tokens, effective from a date. Write amounts as strings to keep them exact.
"""

SERVER: dict[str, Any] = {
    "server": {
        "host": "127.0.0.1",
        "port": 8080,
        "max_body_bytes": 4 * 1024 * 1024,
        "drain_timeout_s": 10.0,
        "write_timeout_s": 30.0,
        "admin_key_env": "LLMGW_ADMIN_KEY",
    }
}

AUDIT: dict[str, Any] = {
    "audit": {
        "durability": "batched",
        "queue_size": 10_000,
        "queue_max_bytes": 256 * 1024 * 1024,
        "batch_size": 500,
        "flush_interval_s": 0.05,
    }
}

MOCK_PROVIDER: dict[str, Any] = {
    "providers": {
        "mock": {
            "kind": "mock",
            "mock": {"ttft_ms": 20, "tokens_per_s": 400, "output_tokens": 48},
        }
    }
}

REAL_PROVIDERS: list[dict[str, Any]] = [
    {
        "providers": {
            "openai": {
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "api_key_env": "OPENAI_API_KEY",
                "read_timeout_s": 120.0,
            }
        }
    },
    {
        "providers": {
            "anthropic": {
                "kind": "anthropic",
                "base_url": "https://api.anthropic.com",
                "api_key_env": "ANTHROPIC_API_KEY",
            }
        }
    },
    {
        "providers": {
            "gemini": {
                "kind": "gemini",
                "base_url": "https://generativelanguage.googleapis.com",
                "api_key_env": "GEMINI_API_KEY",
            }
        }
    },
]

MOCK_MODELS: dict[str, Any] = {
    "models": {
        "mock-small": {
            "aliases": ["gpt-4o-mini", "claude-haiku-4-5"],
            "deployments": [{"provider": "mock", "model": "mock-small", "weight": 1}],
        },
        "mock-large": {
            "aliases": ["gpt-4o", "claude-sonnet-4-5"],
            "deployments": [{"provider": "mock", "model": "mock-large", "weight": 1}],
        },
    }
}

REAL_MODELS: list[dict[str, Any]] = [
    {
        "models": {
            "gpt-4.1-mini": {
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "gpt-4.1-mini",
                        "weight": 1,
                        "max_concurrency": 64,
                        "rpm": 500,
                        "tpm": 200_000,
                    }
                ]
            }
        }
    },
    {
        "models": {
            "claude-opus-4-1": {
                "deployments": [
                    {"provider": "anthropic", "model": "claude-opus-4-1-20250805", "weight": 1}
                ]
            }
        }
    },
    {
        "models": {
            "gemini-2.5-flash": {
                "aliases": ["flash"],
                "strategy": "weighted",
                "fallbacks": ["gpt-4.1-mini"],
                "deployments": [
                    {"provider": "gemini", "model": "gemini-2.5-flash", "weight": 3},
                    {"provider": "openai", "model": "gpt-4.1-mini", "weight": 1},
                ],
            }
        }
    },
]

TENANTS: dict[str, Any] = {
    "tenants": {
        "acme": {"models": ["*"], "retention": "full"},
        "acme/search": {"models": ["mock-small"], "retention": "metadata"},
    }
}

TENANT_ROUTING: dict[str, Any] = {
    "tenants": {
        "acme/regulated": {
            "models": ["*"],
            "routing": {
                "providers": ["openai"],
                "strategy": "latency",
                "allow_overrides": False,
                "degraded_response": "The assistant is temporarily unavailable.",
            },
        }
    }
}


TENANT_LIMITS: dict[str, Any] = {
    "tenants": {
        "acme/batch": {
            "models": ["*"],
            "weight": 2,
            "limits": {
                "rpm": 60,
                "tpm": 100_000,
                "concurrency": 4,
                "budgets": [
                    {"period": "month", "limit_usd": "200.00"},
                    {"period": "day", "limit_usd": "10.00", "hard": False},
                    {"period": "day", "limit_usd": "2.50", "model": "mock-large"},
                    {"period": "window", "limit_usd": "1.00", "window_s": 3600},
                ],
            },
        }
    }
}


def _limits_defaults() -> dict[str, Any]:
    """``LimitsConfig()`` as TOML data (amounts as strings, unset values left out)."""
    data = {k: v for k, v in asdict(LimitsConfig()).items() if v is not None}
    data["reserve_margin"] = str(data["reserve_margin"])
    return {"limits": data}


def _routing_defaults() -> dict[str, Any]:
    """``RoutingConfig()`` as TOML data (unset optional values left out)."""
    data = asdict(RoutingConfig())
    for table in data.values():
        if isinstance(table, dict):
            for key in [k for k, v in table.items() if v is None]:
                del table[key]
    return {"routing": data}


TENANT_CACHE_NOTE = """
# Response cache: by default calls with temperature 0 or a seed are answered from a cache for
# ttl_s seconds, shared by the key's tenant (scope = "key" | "tenant" | "team" | "org", never
# wider). semantic = true also answers paraphrases of cached questions (offline embeddings;
# numbers, dates, names, places and negation must agree). Per model under .models."<name>".
"""

TENANT_CACHE: dict[str, Any] = {
    "tenants": {
        "acme": {
            "cache": {
                "mode": "deterministic",
                "scope": "tenant",
                "ttl_s": 3600,
                "semantic": True,
                "models": {"mock-large": {"ttl_s": 600}},
            }
        }
    }
}

CACHE_NOTE = """
# Cache store: caps across all tenants (least recently used entries go first); every policy key
# of a tenant's cache table may be set here as the default for all tenants.
"""

CACHE: dict[str, Any] = {
    "cache": {"enabled": True, "max_entries": 500_000, "max_bytes": 1024 * 1024 * 1024}
}


PRICING: dict[str, Any] = {
    "pricing": [
        {
            "model": "gpt-4.1-mini",
            "provider": "openai",
            "input_per_mtok": "0.40",
            "output_per_mtok": "1.60",
            "cached_input_per_mtok": "0.10",
            "effective": "2025-04-14",
        }
    ]
}


def _toml(data: dict[str, Any]) -> str:
    return tomli_w.dumps(data)


def _commented(data: dict[str, Any]) -> str:
    """``data`` as TOML with every line commented out (blank lines stay blank)."""
    lines = _toml(data).splitlines()
    return "".join(f"# {line}\n" if line else "\n" for line in lines)


def starter_toml() -> str:
    """The text ``llmgw init`` writes: valid TOML that loads and runs on the mock provider."""
    parts = [
        HEADER,
        SERVER_NOTE + _toml(SERVER),
        AUDIT_NOTE + _toml(AUDIT),
        MOCK_NOTE + _toml(MOCK_PROVIDER),
        REAL_PROVIDERS_NOTE + "\n".join(_commented(p) for p in REAL_PROVIDERS),
        MODELS_NOTE + _toml(MOCK_MODELS),
        REAL_MODELS_NOTE + "\n".join(_commented(m) for m in REAL_MODELS),
        TENANTS_NOTE + _toml(TENANTS),
        TENANT_ROUTING_NOTE + _commented(TENANT_ROUTING),
        TENANT_LIMITS_NOTE + _commented(TENANT_LIMITS),
        TENANT_CACHE_NOTE + _commented(TENANT_CACHE),
        CACHE_NOTE + _commented(CACHE),
        ROUTING_NOTE + _commented(_routing_defaults()),
        LIMITS_NOTE + _commented(_limits_defaults()),
        PRICING_NOTE + _commented(PRICING),
    ]
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


def init(
    path: Path = typer.Option(Path("llmgw.toml"), "--path", help="Where to write the file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter llmgw.toml (mock provider, example tenants)."""
    if path.exists() and not force:
        raise fail(f"{path} already exists (use --force to overwrite it)")
    if path.is_dir():
        raise fail(f"{path} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter_toml(), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    console.print(f"wrote {path}", highlight=False)
    console.print(f"next: llmgw serve --config {path}", highlight=False)

"""The accepted keys of each section of ``llmgw.toml``, and the per-kind provider defaults.

Unknown keys are errors (with a "did you mean" hint); these tuples are what the readers in
``llmgw.settings.parse`` check each table against.
"""

from __future__ import annotations

import re

from llmgw.settings.limits import CAPACITY_KEYS

# Defaults that depend on the provider kind (mock has neither a URL nor a key).
DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
DEFAULT_KEY_ENVS: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
}

TOP_KEYS = (
    "server",
    "audit",
    "providers",
    "models",
    "tenants",
    "pricing",
    "routing",
    "limits",
    "cache",
)
SERVER_KEYS = (
    "host",
    "port",
    "max_body_bytes",
    "drain_timeout_s",
    "admin_key_env",
    "write_timeout_s",
)
AUDIT_KEYS = (
    "durability",
    "queue_size",
    "queue_max_bytes",
    "batch_size",
    "flush_interval_s",
    "redact_patterns",
    "key_env",
)
PROVIDER_KEYS = (
    "kind",
    "base_url",
    "api_key_env",
    "connect_timeout_s",
    "read_timeout_s",
    "max_connections",
    "headers",
    "mock",
)
MOCK_KEYS = ("ttft_ms", "tokens_per_s", "output_tokens")
MODEL_KEYS = (
    "aliases",
    "deployments",
    "strategy",
    "fallbacks",
    "context_fallback",
    "limits_fail_mode",
)
DEPLOYMENT_KEYS = ("provider", "model", "weight", "region", *CAPACITY_KEYS)
TENANT_KEYS = ("models", "retention", "routing", "limits", "weight", "cache")
PRICE_KEYS = (
    "model",
    "provider",
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "effective",
)

TENANT_PATH_RE = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")

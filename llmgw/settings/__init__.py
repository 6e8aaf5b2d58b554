"""The settings wing: the schema of ``llmgw.toml``, its loading and validation, and tenancy.

Public names are re-exported here; modules inside ``llmgw`` import from the submodules:

- ``schema``: frozen records (``Settings`` and its parts), every default a named constant;
- ``load``: where settings come from (``--config``, ``./llmgw.toml``, environment, embedded
  default) and the TOML reference;
- ``fields``: the one typed TOML field reader (also used by chaos drill files) and ``ConfigError``;
- ``money``: the one parser of dollar amounts into integer nano-dollars;
- ``parse`` with its per-wing readers ``routing``, ``limits``, ``cache`` and ``audit``;
- ``default``: the embedded and environment defaults;
- ``tenancy``: tenant chains, model allowances and retention over loaded settings.
"""

from llmgw.settings.default import embedded_default, env_default
from llmgw.settings.fields import ConfigError
from llmgw.settings.load import load_file, load_settings
from llmgw.settings.parse import parse_settings
from llmgw.settings.tenancy import (
    ModelIndex,
    allowed_models,
    model_index,
    resolve_model,
    retention_for,
    tenant_chain,
    tenant_known,
)

__all__ = [
    "ConfigError",
    "ModelIndex",
    "allowed_models",
    "embedded_default",
    "env_default",
    "load_file",
    "load_settings",
    "model_index",
    "parse_settings",
    "resolve_model",
    "retention_for",
    "tenant_chain",
    "tenant_known",
]

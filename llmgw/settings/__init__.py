"""The settings wing: the schema of ``llmgw.toml``, its loading and validation, and tenancy.

Public names are re-exported here; modules inside ``llmgw`` import from the submodules:

- ``schema``: frozen records (``Settings`` and its parts), every default a named constant;
- ``load``: where settings come from (``--config``, ``./llmgw.toml``, environment, embedded
  default) and the TOML reference;
- ``fields``: the one typed TOML field reader, ``FieldReader``, and ``ConfigError``; chaos drill
  files are read with it too (``llmgw.chaos.drill``, whose ``DrillError`` is a ``ConfigError``);
- ``money``: the one parser of dollar amounts (``parse_usd`` to exact dollars, ``parse_nanos``
  to integer nano-dollars, ``AmountError``) and the one formatter of nano-dollars
  (``format_usd``, ``usd_text``), used by the config readers, the CLI, the admin API, budget
  overrides and the price table;
- ``parse``: ``parse_settings``, walking the document with the per-wing readers, each a
  ``FieldReader`` subclass in a chain: ``routing`` (``RoutingReader``), ``limits``
  (``LimitsReader``), ``cache`` (``CacheReader``); ``audit`` holds the ``[audit]`` redaction
  and checkpoint-key settings;
- ``default``: the embedded and environment defaults;
- ``tenancy``: tenant chains, model allowances and retention over loaded settings.
"""

from llmgw.settings.default import embedded_default, env_default
from llmgw.settings.fields import ConfigError
from llmgw.settings.load import load_file, load_settings
from llmgw.settings.money import AmountError, format_usd, parse_nanos, parse_usd
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
    "AmountError",
    "ConfigError",
    "ModelIndex",
    "allowed_models",
    "embedded_default",
    "env_default",
    "format_usd",
    "load_file",
    "load_settings",
    "model_index",
    "parse_nanos",
    "parse_settings",
    "parse_usd",
    "resolve_model",
    "retention_for",
    "tenant_chain",
    "tenant_known",
]

"""Tenant policy and model lookup over loaded ``Settings``: pure functions, no I/O.

Tenants form a tree by path (``acme`` > ``acme/search`` > ``acme/search/prod``). A node's
model allowance is the intersection of every declared allowance on its chain (a child can only
narrow); its retention is the nearest declared one (default ``full``). Ancestors of a declared
tenant exist implicitly and inherit everything, and keys may be issued for paths below a
declared tenant.
"""

from __future__ import annotations

from llmgw.settings.schema import ModelConfig, Settings
from llmgw.settings.sections import TENANT_PATH_RE
from llmgw.types import Retention

DEFAULT_RETENTION: Retention = "full"
_INDEX_CACHE_SIZE = 8


class ModelIndex:
    """Name-or-alias -> ``ModelConfig`` for one ``Settings``, built once."""

    __slots__ = ("_by_name",)

    def __init__(self, settings: Settings):
        by_name: dict[str, ModelConfig] = {}
        for model in settings.models.values():
            for alias in model.aliases:
                by_name[alias] = model
        for model in settings.models.values():  # public names win over aliases
            by_name[model.name] = model
        self._by_name = by_name

    def resolve(self, name: str) -> ModelConfig | None:
        """The model a public name or alias refers to, or None."""
        return self._by_name.get(name)


# Settings holds dicts, so it is neither hashable nor weak-referenceable: key by identity and
# keep the object alive next to its index so an id is never reused while cached.
_indexes: dict[int, tuple[Settings, ModelIndex]] = {}


def model_index(settings: Settings) -> ModelIndex:
    """The (cached) ``ModelIndex`` of ``settings``."""
    entry = _indexes.get(id(settings))
    if entry is not None and entry[0] is settings:
        return entry[1]
    index = ModelIndex(settings)
    if len(_indexes) >= _INDEX_CACHE_SIZE:
        _indexes.pop(next(iter(_indexes)))
    _indexes[id(settings)] = (settings, index)
    return index


def in_subtree(tenant: str, node: str) -> bool:
    """Is ``tenant`` the node ``node`` itself or a path below it (``acme/x`` but not ``acme2``)?"""
    return tenant == node or tenant.startswith(node + "/")


def resolve_model(settings: Settings, name: str) -> ModelConfig | None:
    """The model called ``name`` or aliased as ``name``; None when there is none."""
    return model_index(settings).resolve(name)


def valid_tenant_path(path: str) -> bool:
    """True for ``/``-separated, non-empty segments of ``[a-z0-9_-]``."""
    return bool(TENANT_PATH_RE.match(path))


def tenant_chain(path: str) -> list[str]:
    """Root-first chain of a tenant path: ``a/b/c`` -> ``["a", "a/b", "a/b/c"]``."""
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def allowed_models(settings: Settings, tenant_path: str) -> frozenset[str] | None:
    """Public model names the tenant may call; None means every model.

    Each declared node on the chain narrows the set (``"*"`` does not narrow); aliases named in
    the config count as their model.
    """
    index = model_index(settings)
    allowed: frozenset[str] | None = None
    for node in tenant_chain(tenant_path):
        tenant = settings.tenants.get(node)
        if tenant is None or tenant.models is None or "*" in tenant.models:
            continue
        names = frozenset(m.name for n in tenant.models if (m := index.resolve(n)) is not None)
        allowed = names if allowed is None else allowed & names
    return allowed


def retention_for(settings: Settings, tenant_path: str) -> Retention:
    """Retention of the nearest declared node on the chain that sets one; default ``full``."""
    for node in reversed(tenant_chain(tenant_path)):
        tenant = settings.tenants.get(node)
        if tenant is not None and tenant.retention is not None:
            return tenant.retention
    return DEFAULT_RETENTION


def tenant_known(settings: Settings, path: str) -> bool:
    """True when ``path`` is declared, an ancestor of a declared tenant, or below one."""
    if not valid_tenant_path(path):
        return False
    if any(node in settings.tenants for node in tenant_chain(path)):
        return True
    prefix = path + "/"
    return any(declared.startswith(prefix) for declared in settings.tenants)

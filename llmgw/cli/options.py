"""Options that several commands share, defined once.

Each is a typer ``Annotated`` alias: a command takes ``tenant: TenantScope = None`` and gets
the same flag, short name and help as every other command that does. The six audit filters
come as one decorator, ``@audit_filters``, which adds ``--tenant --model --provider --status
--since --until`` to a command and hands it one ``AuditFilters`` value::

    @app.command("query")
    @audit_filters
    def query_cmd(filters: AuditFilters, limit: int = 50) -> None:
        rows = audit_query.query(conn, **filters.as_dict(), limit=limit)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict, TypeVar

import typer

TenantScope = Annotated[
    str | None, typer.Option("--tenant", "-t", help="This tenant and the ones below it.")
]
Model = Annotated[str | None, typer.Option("--model", "-m", help="Requested or served model.")]
Provider = Annotated[str | None, typer.Option("--provider", "-p", help="Provider name.")]
Status = Annotated[
    str | None,
    typer.Option(
        "--status", "-s", help="HTTP status (429), class (5xx) or ok|error|rejected|aborted."
    ),
]
Since = Annotated[str | None, typer.Option("--since", help="ISO time or relative: 15m, 2h, 7d.")]
Until = Annotated[str | None, typer.Option("--until", help="ISO time or relative: 15m, 2h, 7d.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV.")]


class FilterArgs(TypedDict):
    """``AuditFilters`` as keyword arguments."""

    tenant: str | None
    model: str | None
    provider: str | None
    status: str | None
    since: str | None
    until: str | None


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """The audit filters of one command line (``llmgw.audit.query.build_where`` takes them)."""

    tenant: str | None = None
    model: str | None = None
    provider: str | None = None
    status: str | None = None
    since: str | None = None
    until: str | None = None

    def as_dict(self) -> FilterArgs:
        return {
            "tenant": self.tenant,
            "model": self.model,
            "provider": self.provider,
            "status": self.status,
            "since": self.since,
            "until": self.until,
        }


_FILTERS = (
    ("tenant", TenantScope),
    ("model", Model),
    ("provider", Provider),
    ("status", Status),
    ("since", Since),
    ("until", Until),
)

F = TypeVar("F", bound=Callable[..., Any])


def audit_filters(command: F) -> F:
    """Give ``command`` the six audit filter options in place of its ``filters`` parameter.

    typer reads the wrapper's signature: the ``filters`` parameter is replaced by one keyword
    parameter per filter (annotated with the aliases above), and the wrapper packs what the
    user gave into an ``AuditFilters`` before calling ``command``.
    """
    signature = inspect.signature(command, eval_str=True)
    if "filters" not in signature.parameters:
        raise TypeError(f"{command.__name__} has no 'filters' parameter")
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name != "filters":
            params.append(param)
            continue
        params += [
            inspect.Parameter(name, param.kind, default=None, annotation=alias)
            for name, alias in _FILTERS
        ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        filters = AuditFilters(**{name: kwargs.pop(name, None) for name, _ in _FILTERS})
        return command(*args, filters=filters, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]

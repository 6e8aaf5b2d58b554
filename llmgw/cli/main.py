"""The ``llmgw`` command: a thin typer shell over the library.

Each command group lives in its own module and registers itself here. Every failure a user can
cause ends as one clear line on stderr and a non-zero exit (see ``llmgw.cli.common``).
"""

from __future__ import annotations

import typer

from llmgw.cli import (
    audit,
    audit_replay,
    breakers,
    budgets,
    cache,
    chaos,
    costs,
    init,
    keys,
    mock,
    serve,
    tenants,
    tui,
    usage,
)

app = typer.Typer(
    name="llmgw",
    help="A multi-tenant LLM gateway: OpenAI and Anthropic APIs in, any provider out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("serve")(serve.serve)
app.command("init")(init.init)
app.add_typer(keys.app, name="keys")
audit.app.command("replay")(audit_replay.replay)
audit.app.command("diff")(audit_replay.diff)
audit.app.command("runs")(audit_replay.runs)
app.add_typer(audit.app, name="audit")
app.add_typer(mock.app, name="mock")
app.add_typer(chaos.app, name="chaos")
app.add_typer(breakers.app, name="breakers")
app.add_typer(budgets.app, name="budgets")
app.add_typer(tenants.app, name="tenants")
app.add_typer(costs.app, name="costs")
app.add_typer(cache.app, name="cache")
app.command("usage")(usage.usage)
app.command("tui")(tui.tui)


def run() -> None:
    """Console-script entry point."""
    from llmgw.cli.common import run_app

    run_app(app)

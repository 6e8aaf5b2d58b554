"""``llmgw serve``: run the gateway (uvicorn, uvloop, httptools) until SIGINT/SIGTERM.

On a signal uvicorn stops accepting, lets in-flight calls and streams finish for up to
``server.drain_timeout_s``, then the lifespan shutdown flushes the audit log.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from pathlib import Path

import typer

from llmgw.cli.common import (
    CONFIG_OPTION,
    STATE_OPTION,
    CliError,
    console,
    open_state,
    resolve_state,
)
from llmgw.settings.schema import Settings


def serve(
    config: Path | None = CONFIG_OPTION,
    host: str | None = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", "-p", help="Port (default 8080; 0 = any)."),
    state: Path | None = STATE_OPTION,
    log_level: str = typer.Option("warning", "--log-level", help="debug|info|warning|error"),
) -> None:
    """Run the gateway. With no config and no provider keys: built-in mock models, demo key."""
    from llmgw.settings import ConfigError, load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise CliError(str(exc), code=2) from None
    db = resolve_state(state, create=True)
    bind_host = host or settings.server.host
    bind_port = settings.server.port if port is None else port
    sock = _bind(bind_host, bind_port)
    actual_port = sock.getsockname()[1]
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from llmgw.assembly import assemble
    from llmgw.gateway.runtime import build_gateway

    demo_key = _demo_key(db) if settings.embedded else None
    admin_env = settings.server.admin_key_env
    if settings.embedded and not os.environ.get(admin_env):
        os.environ[admin_env] = "sk-llmgw-admin-" + secrets.token_urlsafe(24)
    gateway = build_gateway(settings, db)
    _banner(settings, db, bind_host, actual_port, demo_key)
    if settings.embedded:
        console.print(f"  admin key (this run): {gateway.admin_key}", highlight=False)
    elif gateway.admin_key is None:
        console.print(f"  admin API: off (set {admin_env} to turn it on)", highlight=False)

    from llmgw.gateway.server import run

    run(
        assemble(gateway),
        sock,
        drain_timeout_s=settings.server.drain_timeout_s,
        log_level=log_level,
    )
    console.print("llmgw stopped; audit log flushed.", highlight=False)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _demo_key(db: Path) -> str:
    """A fresh key for the demo tenant; earlier demo keys are revoked (only hashes are kept)."""
    from llmgw.store.keys import KeyStore

    with open_state(db, write=True, create=True) as conn:
        store = KeyStore(conn)
        for rec in store.list("demo"):
            if rec.name == "demo" and rec.tenant == "demo":
                store.revoke(rec.id)
        _, secret = store.create("demo", "demo")
        return secret


def _banner(settings: Settings, db: Path, host: str, port: int, demo_key: str | None) -> None:
    url_host = f"[{host}]" if ":" in host else host
    base = f"http://{url_host}:{port}"
    source = (
        "built-in mock providers" if settings.embedded else str(settings.source or "environment")
    )
    models = ", ".join(sorted(settings.models))
    console.print(f"[bold]llmgw[/] listening on [cyan]{base}[/]", highlight=False)
    console.print(f"  config: {source}\n  state:  {db}\n  models: {models}", highlight=False)
    if demo_key is None:
        console.print(
            "  keys:   llmgw keys create --tenant <tenant> --name <name>", highlight=False
        )
        return
    model = next(iter(settings.models))
    body = f'{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello!"}}]}}'
    console.print(f"  demo tenant: demo\n  demo key:    [green]{demo_key}[/]\n", highlight=False)
    console.print(
        f"Try it:\n"
        f"  curl {base}/v1/chat/completions -H 'Authorization: Bearer {demo_key}' \\\n"
        f"    -H 'content-type: application/json' \\\n"
        f"    -d '{body}'\n\n"
        f'  python -c "from openai import OpenAI; '
        f"c = OpenAI(base_url='{base}/v1', api_key='{demo_key}'); "
        f"print(c.chat.completions.create(model='{model}', "
        f"messages=[{{'role': 'user', 'content': 'Hello!'}}]).choices[0].message.content)\"\n\n"
        f"  llmgw audit query --state {db}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )

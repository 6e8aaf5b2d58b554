"""Talking to a running gateway's admin API from the CLI (httpx, one-line errors)."""

from __future__ import annotations

import os
from typing import Any

import typer

from llmgw.cli.common import fail

GATEWAY_OPTION = typer.Option(None, "--gateway", help="A running gateway's URL.")
ADMIN_KEY_OPTION = typer.Option(
    None, "--admin-key", help="The gateway's admin key (default: $LLMGW_ADMIN_KEY)."
)


def resolve_admin_key(given: str | None) -> str:
    key = given or os.environ.get("LLMGW_ADMIN_KEY", "")
    if not key:
        raise fail("an admin key is needed: --admin-key or $LLMGW_ADMIN_KEY", 2)
    return key


def admin_call(method: str, url: str, key: str, body: Any = None) -> Any:
    """One admin request; any failure is a one-line CLI error."""
    import httpx

    try:
        resp = httpx.request(
            method, url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10.0
        )
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the gateway at {url}: {exc}") from None
    if resp.status_code in (401, 403):
        raise fail(f"the gateway refused the admin key ({resp.status_code})")
    if resp.status_code >= 400:
        try:
            message = resp.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = resp.text[:200]
        raise fail(f"the gateway answered {resp.status_code}: {message}")
    try:
        return resp.json()
    except ValueError:
        return {}

"""``llmgw mock``: run the built-in mock provider as a standalone upstream."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import signal
from typing import TYPE_CHECKING

import typer

from llmgw.cli.common import err_console, fail

if TYPE_CHECKING:
    from llmgw.mock.faults import FaultTable

app = typer.Typer(
    help="The built-in mock provider: an upstream speaking the OpenAI, Anthropic and Gemini "
    "APIs, with injectable faults.",
    no_args_is_help=True,
)

_HOST = typer.Option("127.0.0.1", "--host", help="Interface to bind (loopback by default).")
_PORT = typer.Option(9100, "--port", help="Port to listen on (0 picks a free one).", min=0)
_TTFT = typer.Option(0.0, "--ttft-ms", help="Time to first token, in milliseconds.", min=0)
_TPS = typer.Option(0.0, "--tokens-per-s", help="Token pace of answers (0 = instant).", min=0)
_OUT = typer.Option(16, "--output-tokens", help="Tokens per text answer.", min=0)
_FAULT = typer.Option(
    None,
    "--fault",
    help="A fault, MODEL=KIND[:ARG][,key=value...], e.g. gpt-4o=status:503 (repeatable).",
)
_SEED = typer.Option(None, "--seed", help="Seed for fault probabilities (reproducible runs).")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve(
    host: str = _HOST,
    port: int = _PORT,
    ttft_ms: float = _TTFT,
    tokens_per_s: float = _TPS,
    output_tokens: int = _OUT,
    fault: list[str] | None = _FAULT,
    seed: int | None = _SEED,
) -> None:
    """Serve the mock upstream until SIGINT or SIGTERM."""
    from llmgw.mock.faults import FaultTable, parse_fault

    try:
        faults = [parse_fault(spec) for spec in fault or ()]
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    if not _is_loopback(host):
        err_console.print(f"warning: the mock listens on {host}, beyond this machine")
    table = FaultTable(faults, random.Random(seed))
    knobs = {"ttft_ms": ttft_ms, "tokens_per_s": tokens_per_s, "output_tokens": output_tokens}
    try:
        asyncio.run(_serve(host, port, table, knobs))
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def _serve(host: str, port: int, table: FaultTable, knobs: dict[str, float]) -> None:
    from llmgw.mock.server import start_mock

    runner, bound = await start_mock(host, port, faults=table, **knobs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    shown = f"[{host}]" if ":" in host else host
    print(f"llmgw mock listening on http://{shown}:{bound}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()

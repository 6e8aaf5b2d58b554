"""Processes for a drill: mock upstreams and a gateway of its own, or a gateway already running.

``OwnedStack.start`` launches one ``llmgw mock serve`` per drill upstream and an ``llmgw serve``
on a generated config (one provider per upstream; each deployment's model name is the public
model name, so a fault on the upstream's mock hits it), with a temp state dir, a fresh admin
key in ``LLMGW_ADMIN_KEY`` and one client key per tenant. ``stop`` ends the gateway with SIGTERM
and waits, so its audit log is complete when ``audit_rows`` reads it. Only loopback is used.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from llmgw.chaos.drill import Drill

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
UPSTREAM_KEY_ENV = "LLMGW_CHAOS_UPSTREAM_KEY"
ADMIN_KEY_ENV = "LLMGW_ADMIN_KEY"
TENANT_ROOT = "chaos"


class HarnessError(Exception):
    """The drill's processes could not be started (one line for the user)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tenant_paths(count: int) -> list[str]:
    return [f"{TENANT_ROOT}/t{i + 1}" for i in range(count)]


def drill_tenant_paths(drill: Drill) -> list[str]:
    """``chaos/<name>`` per ``[[load.tenants]]`` entry, else ``chaos/t1..tN``."""
    named = [f"{TENANT_ROOT}/{t.name}" for t in drill.load.tenant_loads]
    return named or tenant_paths(drill.load.tenants)


def gateway_config(drill: Drill, mock_ports: dict[str, int]) -> dict[str, Any]:
    """The gateway's TOML (as a dict) for a drill whose upstreams listen on ``mock_ports``."""
    providers: dict[str, Any] = {}
    for up in drill.upstreams:
        base = f"http://127.0.0.1:{mock_ports[up.name]}"
        providers[up.name] = {
            "kind": up.format,
            "base_url": base + "/v1" if up.format == "openai" else base,
            "api_key_env": UPSTREAM_KEY_ENV,
        }
    capacity = {u.name: u.max_concurrency for u in drill.upstreams if u.max_concurrency}
    models: dict[str, Any] = {}
    for model in drill.models:
        deployments: list[dict[str, Any]] = []
        for p in model.deployments:
            dep: dict[str, Any] = {"provider": p, "model": model.name}
            if p in capacity:
                dep["max_concurrency"] = capacity[p]
            deployments.append(dep)
        entry: dict[str, Any] = {"deployments": deployments}
        if model.strategy is not None:
            entry["strategy"] = model.strategy
        models[model.name] = entry
    tenants: dict[str, Any] = {TENANT_ROOT: {"models": ["*"]}}
    for tenant in drill.load.tenant_loads:
        node: dict[str, Any] = {"weight": tenant.weight}
        if tenant.limits():
            node["limits"] = tenant.limits()
        tenants[f"{TENANT_ROOT}/{tenant.name}"] = node
    config: dict[str, Any] = {
        "server": {"drain_timeout_s": 5},
        "audit": {"flush_interval_s": 0.01},
        "providers": providers,
        "models": models,
        "tenants": tenants,
    }
    if drill.routing:
        config["routing"] = drill.routing
    return config


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait, then SIGKILL if it would not go."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


def llmgw_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "llmgw", *args]


def start_process(args: list[str], log: Path, ready_url: str, env: dict[str, str]) -> Process:
    """Start ``args`` logging to ``log``; wait (bounded) until ``ready_url`` answers 200."""
    with log.open("wb") as fh:
        popen = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env)
    proc = Process(popen, ready_url.rsplit("/", 1)[0], log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise HarnessError(f"{' '.join(args[2:4])} exited {popen.returncode}: {tail[0]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(ready_url, timeout=1.0).status_code == 200:
                return proc
        time.sleep(0.05)
    proc.stop(2)
    raise HarnessError(f"{' '.join(args[2:4])} not ready after {READY_TIMEOUT_S:.0f} s (log {log})")


@dataclass
class OwnedStack:
    """Mocks + gateway started for one drill run."""

    workdir: Path
    gateway: Process | None = None
    mocks: dict[str, Process] = field(default_factory=dict)
    admin_key: str = ""
    keys: list[tuple[str, str]] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def state(self) -> Path:
        return self.workdir / "state.db"

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def mock_urls(self) -> dict[str, str]:
        return {name: proc.url for name, proc in self.mocks.items()}

    @classmethod
    def start(cls, drill: Drill, workdir: Path | None = None) -> OwnedStack:
        tmp = None
        if workdir is None:
            tmp = tempfile.TemporaryDirectory(prefix="llmgw-chaos-")
            workdir = Path(tmp.name)
        stack = cls(workdir, _tmp=tmp)
        try:
            stack._start(drill)
        except BaseException:
            stack.stop()
            raise
        return stack

    def _start(self, drill: Drill) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        ports: dict[str, int] = {}
        for i, up in enumerate(drill.upstreams):
            port = ports[up.name] = free_port()
            args = ["--port", str(port), "--ttft-ms", str(up.ttft_ms)]
            args += [
                "--tokens-per-s",
                str(up.tokens_per_s),
                "--output-tokens",
                str(up.output_tokens),
            ]
            if drill.seed is not None:
                args += ["--seed", str(drill.seed + i)]
            self.mocks[up.name] = start_process(
                llmgw_cmd("mock", "serve", *args),
                self.workdir / f"mock-{up.name}.log",
                f"http://127.0.0.1:{port}/healthz",
                env,
            )
        config = self.workdir / "llmgw.toml"
        config.write_text(tomli_w.dumps(gateway_config(drill, ports)))
        self.keys = [(t, self._create_key(t, env)) for t in drill_tenant_paths(drill)]
        self.admin_key = "chaos-admin-" + secrets.token_urlsafe(18)
        gw_env = {**env, UPSTREAM_KEY_ENV: "chaos-upstream", ADMIN_KEY_ENV: self.admin_key}
        port = free_port()
        self.gateway = start_process(
            llmgw_cmd(
                "serve", "--config", str(config), "--state", str(self.state), "--port", str(port)
            ),
            self.workdir / "gateway.log",
            f"http://127.0.0.1:{port}/readyz",
            gw_env,
        )

    def _create_key(self, tenant: str, env: dict[str, str]) -> str:
        args = ["--tenant", tenant, "--name", "chaos", "--json", "--state", str(self.state)]
        out = subprocess.run(
            llmgw_cmd("keys", "create", *args), capture_output=True, env=env, timeout=60
        )
        if out.returncode != 0:
            line = out.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise HarnessError(f"cannot create a key for {tenant}: {line[0]}")
        import orjson

        return str(orjson.loads(out.stdout)["secret"])

    def stop_gateway(self) -> int | None:
        return self.gateway.stop() if self.gateway is not None else None

    def stop(self) -> None:
        self.stop_gateway()
        for proc in self.mocks.values():
            proc.stop(5)

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def audit_rows(state: Path) -> list[dict[str, Any]] | None:
    """The audit log rows the checks need, or None when the file or table is missing."""
    if not state.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT id, status, outcome, cost_nanos, output_tokens, attempts, provider "
            "FROM audit_log"
        ).fetchall()
        return [dict(row) for row in rows]
    except sqlite3.Error:
        return None
    finally:
        conn.close()

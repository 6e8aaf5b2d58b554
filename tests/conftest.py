"""Shared fixtures: free ports and real llmgw processes on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    popen: subprocess.Popen[str]
    url: str
    log: Path

    def stop(self, sig: int = 15, timeout: float = 20.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def llmgw_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "llmgw", *args]


def start_process(
    args: list[str],
    log: Path,
    ready_url: str,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Proc:
    """Start a process writing to ``log`` and wait until ``ready_url`` answers 200."""
    fh = log.open("w")
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    popen = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, text=True, env=full_env)
    deadline = time.monotonic() + timeout
    base = ready_url.rsplit("/", 1)[0]
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{args} exited {popen.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(ready_url, timeout=1.0).status_code == 200:
                return Proc(popen, base, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    popen.kill()
    raise RuntimeError(f"{args} not ready after {timeout}s:\n{log.read_text()}")


# Model names that misbehave on the shared mock upstream (see ``llmgw mock serve --fault``).
MOCK_FAULTS = (
    "broken-503=status:503",
    "broken-400=status:400",
    "too-long=context_length",
    "cut-model=cut,after_tokens=3",
    "silent=no_response,seconds=5",
    "echo-auth=echo_auth",
)


def start_gateway(home: Path, config: Path, state: Path, env: dict[str, str] | None = None) -> Proc:
    """A real ``llmgw serve`` on a free loopback port, ready when this returns."""
    port = free_port()
    return start_process(
        llmgw_cmd("serve", "--config", str(config), "--state", str(state), "--port", str(port)),
        home / f"gw-{port}.log",
        f"http://127.0.0.1:{port}/readyz",
        env=env,
    )


@pytest.fixture(scope="session")
def mock_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """A real ``llmgw mock serve`` with a few faulty model names."""
    port = free_port()
    log = tmp_path_factory.mktemp("mock") / "mock.log"
    faults = [arg for spec in MOCK_FAULTS for arg in ("--fault", spec)]
    proc = start_process(
        llmgw_cmd("mock", "serve", "--port", str(port), *faults),
        log,
        f"http://127.0.0.1:{port}/healthz",
    )
    yield proc
    proc.stop()

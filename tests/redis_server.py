"""A throwaway ``redis-server`` on loopback for tests.

``RedisServer.start()`` runs the system binary with persistence off on a free port and waits
until it answers ``PING``; ``stop()`` terminates it. Nothing is written to disk.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port() -> int:
    """A loopback port with nothing listening (for unreachable-backend tests)."""
    return _free_port()


def _ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A running ``redis-server`` subprocess."""

    popen: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, workdir: Path, timeout: float = 10.0, port: int | None = None) -> RedisServer:
        """Start a server whose working directory is ``workdir``, on ``port`` (default: a free
        one); raise if it is not up in time."""
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        port = port or _free_port()
        args = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ]
        log = (workdir / "redis.log").open("wb")
        popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise RuntimeError(f"redis-server exited {popen.returncode}")
            if _ping(port):
                return cls(popen, port)
            time.sleep(0.02)
        popen.kill()
        popen.wait(5)
        raise RuntimeError(f"redis-server not ready after {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server (kill it if it does not stop in time)."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)

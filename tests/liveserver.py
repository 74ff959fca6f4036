"""A real geo_service server in its own process on 127.0.0.1, for tests with parallel
clients and crashes: uvicorn started as an operator would, stopped (or killed) by the test."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    headers: dict | None = None  # what the test's clients sign in with

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as when the machine loses the process."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


# The package's own CLI from this interpreter, as `geo-service` runs it.
PACKAGE_CLI = [sys.executable, "-m", "geo_service.cli"]


def start(
    database_url: str,
    log: Path,
    command: list[str] | None = None,
    env: dict | None = None,
    serve_args: tuple[str, ...] = (),
) -> Server:
    """`serve` on a free port, once /healthz answers; `env` adds settings, `serve_args`
    options (e.g. --workers 2)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    command = command or [str(Path(sys.executable).parent / "geo-service")]
    handle = log.open("ab")
    process = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"server did not answer in 60 s: {log.read_text(errors='replace')[-2000:]}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@contextmanager
def running(database_url: str, log: Path, command: list[str] | None = None, **options):
    server = start(database_url, log, command, **options)
    try:
        yield server
    finally:
        stop(server)

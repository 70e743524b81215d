"""Fixtures shared by every test package: a Redis server.

``redis_url`` is the shared Redis on 127.0.0.1:6379 when it answers PING,
otherwise a private server started for the session. ``private_redis`` is
always a server of its own, which a test may stop and start again. Both
skip, with the reason, only when no ``redis-server`` executable exists, and
fail instead when ``APPGRAPH_REQUIRE_REDIS=1`` (as CI sets it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


def _answers_ping(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` process of a test, without persistence."""

    def __init__(self, executable: str, directory: Path) -> None:
        self.executable = executable
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers_ping(self.url):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


def _redis_executable() -> str:
    executable = shutil.which("redis-server")
    if executable is None:
        reason = "redis-server is not installed, so no private Redis can start"
        # CI installs Redis, so there a missing server is a failure, not a skip.
        if os.environ.get("APPGRAPH_REQUIRE_REDIS") == "1":
            pytest.fail(f"{reason} (APPGRAPH_REQUIRE_REDIS=1)")
        pytest.skip(reason)
    return executable


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if _answers_ping(SHARED_REDIS_URL):
        yield SHARED_REDIS_URL
        return
    server = RedisServer(_redis_executable(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(_redis_executable(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()

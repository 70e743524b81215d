"""Rate-limited logging of background loop failures."""

from __future__ import annotations

import logging
import socket

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from workflows.loop_log import LoopFailureLog, describe_failure


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def redis_down_error(port: int) -> redis.exceptions.ConnectionError:
    client = redis.Redis(
        port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        return error
    finally:
        client.close()
    raise AssertionError(f"Redis answered on port {port}")


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_redis_failure_named_without_password() -> None:
    port = closed_port()
    error = redis_down_error(port)

    cause = describe_failure(error, f"redis://:secret@127.0.0.1:{port}/0")

    assert cause.startswith(f"Cannot reach Redis at 127.0.0.1:{port}: ")
    assert "secret" not in cause


def test_other_failure_named_by_type() -> None:
    assert describe_failure(ValueError("bad row"), None) == "ValueError: bad row"


def test_repeated_failures_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    error = redis_down_error(port)
    clock = StepClock()
    failures = LoopFailureLog(
        "_dispatch", 1.0, f"redis://127.0.0.1:{port}", clock=clock
    )

    with caplog.at_level(logging.INFO, logger="workflows.loop_log"):
        for _ in range(1400):
            failures.failed(error)
            clock.now += 25 / 1400
    with caplog.at_level(logging.DEBUG, logger="workflows.loop_log"):
        failures.failed(error)

    errors = messages(caplog, logging.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith(
        f"Workflow loop _dispatch failed: Cannot reach Redis at 127.0.0.1:{port}: "
    )
    assert errors[0].endswith("; retrying every 1 s")
    error_records = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error_records[0].exc_info is None
    debug_records = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug_records) == 1
    assert debug_records[0].exc_info is not None


def test_repeats_summarised_each_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = StepClock()
    failures = LoopFailureLog("_schedule", 30.0, None, clock=clock)

    with caplog.at_level(logging.ERROR, logger="workflows.loop_log"):
        for _ in range(5):
            failures.failed(ValueError("bad row"))
            clock.now += 30.0

    assert messages(caplog, logging.ERROR) == [
        "Workflow loop _schedule failed: ValueError: bad row; retrying every 30 s",
        "Workflow loop _schedule failed 2 more times in 60 s: ValueError: bad row; "
        "still retrying",
        "Workflow loop _schedule failed 2 more times in 60 s: ValueError: bad row; "
        "still retrying",
    ]


def test_new_cause_and_recovery_logged(caplog: pytest.LogCaptureFixture) -> None:
    failures = LoopFailureLog("_sweep", 5.0, None, clock=StepClock())

    with caplog.at_level(logging.WARNING, logger="workflows.loop_log"):
        failures.failed(ValueError("first"))
        failures.failed(KeyError("second"))
        failures.succeeded()
        failures.succeeded()

    assert messages(caplog, logging.ERROR) == [
        "Workflow loop _sweep failed: ValueError: first; retrying every 5 s",
        "Workflow loop _sweep failed: KeyError: 'second'; retrying every 5 s",
    ]
    assert messages(caplog, logging.WARNING) == [
        "Workflow loop _sweep recovered after 2 failed passes"
    ]

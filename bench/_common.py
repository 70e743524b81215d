"""Shared parts of the benchmarks: machine facts, timing loops, result tables."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil  # type: ignore[import-untyped]

LIBRARIES = (
    "graphql-core",
    "strawberry-graphql",
    "starlette",
    "uvicorn",
    "websockets",
    "aiosqlite",
)


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_versions() -> dict[str, str]:
    """Return the installed version of each library the benchmarks depend on."""
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine_info() -> dict[str, Any]:
    """Return the CPU, cores, RAM, OS, Python and library versions of this run."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": library_versions(),
    }


# Timing ------------------------------------------------------------------


def ops_per_second(operation: Callable[[], object], seconds: float) -> float:
    """Run ``operation`` repeatedly for about ``seconds``; return calls per second."""
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    now = started
    while now < deadline:
        operation()
        calls += 1
        now = time.perf_counter()
    return calls / (now - started)


async def async_ops_per_second(
    operation: Callable[[], Awaitable[object]], seconds: float
) -> float:
    """Await ``operation()`` for about ``seconds`` and return calls per second."""
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    now = started
    while now < deadline:
        await operation()
        calls += 1
        now = time.perf_counter()
    return calls / (now - started)


def percentile(values: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("Cannot take a percentile of no values; pass at least one.")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    """Return the median of ``values``."""
    return statistics.median(values)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# Results -----------------------------------------------------------------


@dataclass
class Row:
    """One measured quantity of a benchmark, with its target if it has one."""

    metric: str
    measured: str
    target: str = ""
    met: bool | None = None
    """Whether the target was met; None when the row has no target."""


@dataclass
class Result:
    """The outcome of one benchmark: its rows, raw numbers and notes."""

    name: str
    rows: list[Row] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(
        self, metric: str, measured: str, target: str = "", met: bool | None = None
    ) -> None:
        """Append a row."""
        self.rows.append(Row(metric, measured, target, met))

    def as_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON-serializable data."""
        return asdict(self)


def format_table(result: Result) -> str:
    """Return the rows of ``result`` as a Markdown table."""
    lines = [
        "| metric | measured | target | met |",
        "|---|---|---|---|",
    ]
    for row in result.rows:
        if row.met is None:
            met = ""
        elif row.met:
            met = "yes"
        else:
            met = "**no**"
        lines.append(f"| {row.metric} | {row.measured} | {row.target} | {met} |")
    return "\n".join(lines)

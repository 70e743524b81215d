"""Run the benchmarks: ``python -m bench`` for all, ``python -m bench NAME`` for one.

Each benchmark prints a Markdown table of its numbers, with the ratio to its
baseline and the target. The exit code is 0 whether or not targets are met,
because these are measurements, not checks. ``--json FILE`` also writes the
machine facts and raw numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from bench import (
    memory,
    rebuild,
    subscriptions,
    typed_query,
    workflow_latency,
    workflow_throughput,
)
from bench._common import Result, format_table, machine_info

BENCHMARKS: dict[str, Callable[[], Result]] = {
    "typed_query": typed_query.run,
    "rebuild": rebuild.run,
    "subscriptions": subscriptions.run,
    "memory": memory.run,
    "workflow_latency": workflow_latency.run,
    "workflow_throughput": workflow_throughput.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"Benchmarks to run, from: {', '.join(BENCHMARKS)}. Default: all.",
    )
    parser.add_argument("--json", help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(
            f"unknown benchmark {', '.join(unknown)}; "
            f"choose from {', '.join(BENCHMARKS)}."
        )

    machine = machine_info()
    print(json.dumps(machine, indent=2))
    results = []
    for name in names:
        print(f"\n## {name}\n", flush=True)
        result = BENCHMARKS[name]()
        results.append(result)
        print(format_table(result))
        for note in result.notes:
            print(f"\n{note}")
        print(f"\nRun time: {result.seconds:.0f} s", flush=True)

    if args.json:
        with open(args.json, "w", encoding="utf-8") as output:
            json.dump(
                {"machine": machine, "results": [r.as_dict() for r in results]},
                output,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

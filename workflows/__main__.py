"""Run a workflow worker: ``python -m workflows --redis-url URL --database FILE``."""

from workflows.worker import main

main()

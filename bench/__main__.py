"""Run every benchmark and print one table (`make bench`)."""

from __future__ import annotations

import logging

import uvloop
from rich.console import Console
from rich.table import Table

from bench import auth, graphql, pipeline, realtime
from bench.environment import bench_settings, services


async def main() -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    async with bench_settings() as settings:
        rows += await auth.run(settings)
    async with bench_settings() as settings:
        rows += await pipeline.run(settings)
    async with bench_settings() as settings:
        rows += await graphql.run(settings)
    async with bench_settings() as settings:
        rows += await realtime.run(settings)
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    with services():
        # uvloop: the load generators' own overhead is part of every "raw" figure, and the
        # fan-out clients (1,000 sockets in this one process) are its bottleneck.
        results = uvloop.run(main())
    table = Table(title="Pulse benchmarks")
    for column in ("scenario", "result", "detail"):
        table.add_column(column)
    for row in results:
        table.add_row(*row)
    Console().print(table)

"""Shared pieces of the mesh tests: in-process servers and scraping their metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from qapi_jobs.server.grpc.app import JobsServer, build_server
from tests.support.servers import make_engine, server_config


@asynccontextmanager
async def running_server(data_dir: Path, **settings: Any) -> AsyncIterator[JobsServer]:
    """An in-process server on a free localhost port, with ``settings`` for its ServerConfig."""
    tracer_provider = settings.pop("tracer_provider", None)
    config = server_config(data_dir, **settings)
    server = await build_server(
        config, engine=make_engine(data_dir), tracer_provider=tracer_provider
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def scrape(address: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics from ``address``: every sample by name and labels."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\n\r\n")
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    """The value of the sample with exactly ``labels``, None if there is none."""
    return samples.get((name, frozenset(labels.items())))

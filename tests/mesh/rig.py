"""Shared pieces of the mesh tests: servers, images, scraping."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.v1 import image_pb2

KIB = 1 << 10
MIB = 1 << 20
GUARD_TIMEOUT = 30.0
"""Upper bound on any wait, so that a broken setup fails a test instead of hanging it."""


def raw_image(filename: str, size: int = MIB) -> image_pb2.BlockdevCreateOptions:
    """Options that create a raw image."""
    return image_pb2.BlockdevCreateOptions(
        driver=image_pb2.IMAGE_DRIVER_RAW,
        raw=image_pb2.ImageCreateOptionsRaw(filename=filename, size=size),
    )


def dense_file(data_dir: Path, name: str, size: int = MIB) -> str:
    """A file full of data below ``data_dir``; returns its relative name."""
    (data_dir / name).write_bytes(os.urandom(size))
    return name


@asynccontextmanager
async def running_server(data_dir: Path, **settings: Any) -> AsyncIterator[JobsServer]:
    """An in-process server on a free localhost port, with ``settings`` for its ServerConfig."""
    tracer_provider = settings.pop("tracer_provider", None)
    config = ServerConfig(
        data_dir=data_dir, listen=("127.0.0.1:0",), shutdown_grace=1.0, **settings
    )
    engine = BuiltinEngine(data_dir, chunk_size=64 * KIB)
    server = await build_server(config, engine=engine, tracer_provider=tracer_provider)
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

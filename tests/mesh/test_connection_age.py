"""--max-connection-age: GOAWAY ends old connections; watchers resume with nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from qapi_jobs.client import AsyncJobsClient, EventItem, QapiJobsError, ReconnectPolicy
from qapi_jobs.server.cli import build_parser, config_from_args
from qapi_jobs.server.grpc.app import grpc_options
from qapi_jobs.server.grpc.config import ConnectionAgeConfig
from tests.support.requests import raw_image
from tests.support.timeouts import GUARD_TIMEOUT

from .rig import running_server

RECONNECTS = 2
"""Connection ends the watcher must live through."""


async def test_watchers_resume_across_connection_age_with_no_loss(tmp_path: Path) -> None:
    reconnected = asyncio.Event()
    retries: list[str] = []

    def on_retry(error: QapiJobsError, delay: float) -> None:
        retries.append(error.code.name)
        if len(retries) >= RECONNECTS:
            reconnected.set()

    # A grace long enough for any unary call in flight at a GOAWAY on a loaded machine.
    age = ConnectionAgeConfig(max_age=0.5, grace=1.0)
    async with (
        running_server(tmp_path, connection_age=age) as server,
        AsyncJobsClient(server.address, timeout=10) as client,
    ):
        policy = ReconnectPolicy(initial=0.05, maximum=0.2, on_retry=on_retry)
        items = client.watch_events(after_sequence=0, reconnect=policy)
        sequences: list[int] = []
        created = 0
        async with contextlib.aclosing(items), asyncio.timeout(GUARD_TIMEOUT):
            # Keep events coming until the watcher's connection was ended twice.
            while not reconnected.is_set() or not sequences:
                created += 1
                job_id = f"c{created}"
                await client.blockdev_create(job_id=job_id, options=raw_image(f"{job_id}.raw"))
                await client.wait_for_status(job_id, "concluded", timeout=GUARD_TIMEOUT)
                await client.job_dismiss(id=job_id)
                while not sequences or sequences[-1] < server.manager.events.last_seq:
                    item = await anext(items)
                    assert isinstance(item, EventItem), item
                    sequences.append(item.sequence)
        assert sequences == list(range(1, server.manager.events.last_seq + 1))
        assert retries and set(retries) <= {"UNAVAILABLE"}, retries


def test_the_options_reach_the_config() -> None:
    args = build_parser().parse_args(
        ["--data-dir", "data", "--metrics-listen", "127.0.0.1:9464", "--max-connection-age", "300"]
    )
    config = config_from_args(args)
    assert config.metrics_listen == "127.0.0.1:9464"
    assert config.connection_age == ConnectionAgeConfig(max_age=300, grace=30)
    options = dict(grpc_options(config))
    assert options["grpc.max_connection_age_ms"] == 300_000
    assert options["grpc.max_connection_age_grace_ms"] == 30_000

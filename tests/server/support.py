"""Helpers for the server tests: images, waiting for job events, reading error details."""

from __future__ import annotations

import asyncio
import errno
import os
import random
from collections.abc import Mapping
from pathlib import Path

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from qapi_jobs.server.jobs import events as ev
from qapi_jobs.server.jobs.events import EventRecord, Subscription
from qapi_jobs.server.jobs.info import JobInfo
from qapi_jobs.server.jobs.manager import JobManager

KIB = 1 << 10
MIB = 1 << 20
GUARD_TIMEOUT = 30.0
"""Upper bound on any wait, so that a broken server fails a test instead of hanging it."""


# ------------------------------------------------------------------ images


def make_image(path: Path, size: int, data: list[tuple[int, int]], *, seed: int = 1) -> bytes:
    """A sparse file of ``size`` bytes with random bytes in the ``data`` ranges; its content."""
    rng = random.Random(seed)
    content = bytearray(size)
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in data:
            chunk = rng.randbytes(length)
            content[offset : offset + length] = chunk
            f.seek(offset)
            f.write(chunk)
    return bytes(content)


def make_dense(path: Path, size: int, *, seed: int = 2) -> bytes:
    """A file of ``size`` random bytes (no holes); its content."""
    return make_image(path, size, [(0, size)], seed=seed)


def data_ranges(path: Path) -> list[tuple[int, int]]:
    """The file's data extents as SEEK_DATA/SEEK_HOLE report them."""
    ranges: list[tuple[int, int]] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                raise
            end = os.lseek(fd, start, os.SEEK_HOLE)
            ranges.append((start, end - start))
            offset = end
    finally:
        os.close(fd)
    return ranges


def overwrite(path: Path, offset: int, data: bytes) -> None:
    """Write ``data`` into an existing file in place, as another process would."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ events


def describe(record: EventRecord) -> str:
    """``id:status`` for status changes, ``[id:EVENT]`` for block job events."""
    data = record.data
    if record.name == ev.JOB_STATUS_CHANGE:
        return f"{data['id']}:{data['status']}"
    text = f"{data.get('device', data.get('id'))}:{record.name.removeprefix('BLOCK_JOB_')}"
    if "error" in data:
        text += f" error={data['error']}"
    return f"[{text}]"


class Events:
    """Every event of a manager from the start, collected as a test waits for them."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription
        self.seen: list[str] = []
        self.records: list[EventRecord] = []

    def _take(self, batch: list[EventRecord]) -> None:
        self.records.extend(batch)
        self.seen.extend(describe(record) for record in batch)

    async def until(self, text: str, count: int = 1) -> list[str]:
        """Wait for the ``count``-th event described as ``text``; return everything seen."""
        async with asyncio.timeout(GUARD_TIMEOUT):
            while self.seen.count(text) < count:
                batch = await self._subscription.next_batch()
                if not batch:
                    raise AssertionError(f"event log closed before {text!r}; saw {self.seen}")
                self._take(batch)
        return self.seen

    def drain(self) -> list[str]:
        """Collect what has been published already, without waiting."""
        self._take(self._subscription.get_nowait(10_000))
        return self.seen

    def of(self, job_id: str) -> list[str]:
        """The events seen so far about ``job_id``."""
        return [
            text
            for text in self.seen
            if text.startswith(f"{job_id}:") or text.startswith(f"[{job_id}:")
        ]


def assert_in_order(seen: list[str], expected: list[str]) -> None:
    """Every expected event was seen, in this order."""
    remaining = iter(seen)
    missing = [event for event in expected if event not in remaining]
    assert not missing, f"{missing} not seen in order in {seen}"


async def wait_for_progress(manager: JobManager, job_id: str, minimum: int = 1) -> JobInfo:
    """Wait (on change notifications, not on time) until the job has copied ``minimum`` bytes."""
    async with asyncio.timeout(GUARD_TIMEOUT):
        version = manager.change_version
        while True:
            info = manager.job_info(job_id)
            if info.current_progress >= minimum:
                return info
            version = await manager.wait_for_change(version)


# ------------------------------------------------------------------ errors


def status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status a failed call carried in its trailers."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no status details in {error!r}"
    assert status.code == error.code().value[0]
    assert status.message == error.details()
    return status


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The one ErrorInfo detail of a failed call."""
    infos = []
    for detail in status_of(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            infos.append(info)
    assert len(infos) == 1, f"expected one ErrorInfo, got {infos}"
    assert infos[0].domain == "qapi-jobs.qapi_jobs.v1"
    return infos[0]


def bad_request(error: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest:
    """The BadRequest detail of a failed call."""
    for detail in status_of(error).details:
        found = error_details_pb2.BadRequest()
        if detail.Unpack(found):
            return found
    raise AssertionError(f"no BadRequest detail in {error!r}")


def assert_refused(
    error: grpc.aio.AioRpcError,
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """The call failed with ``code``, QEMU's ``message`` and an ErrorInfo with ``reason``."""
    assert (error.code(), error.details()) == (code, message)
    info = error_info(error)
    assert info.reason == reason
    if metadata is not None:
        assert dict(info.metadata) == dict(metadata)

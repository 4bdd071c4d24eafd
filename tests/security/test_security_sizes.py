"""A size of 2^63 bytes: the job fails, and every other job stays readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapi_jobs.server.grpc.watch_encoding import job_info_message
from qapi_jobs.server.jobs.info import JobInfo
from qapi_jobs.server.jobs.status import JobStatus, JobType
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc, watch_pb2, watch_pb2_grpc

EIB = 1 << 60


def create(job_id: str, filename: str, size: int) -> service_pb2.BlockdevCreateRequest:
    options = {"driver": "raw", "filename": filename, "size": size}
    return decode_arguments(
        service_pb2.BlockdevCreateRequest, {"job-id": job_id, "options": options}
    )


async def concluded(stub: service_pb2_grpc.JobsServiceAsyncStub, job_id: str) -> str:
    """Wait (on the job's own events) for ``job_id`` to conclude; return its error."""
    call = stub.StreamEvents(service_pb2.StreamEventsRequest())
    try:
        while True:
            listed = (await stub.QueryJobs(service_pb2.QueryJobsRequest())).result
            job = next(job for job in listed if job.id == job_id)
            if job.status == job_pb2.JOB_STATUS_CONCLUDED:
                return job.error
            await call.read()
    finally:
        call.cancel()


@pytest.mark.parametrize("size", [8 * EIB, 2**64 - 1])
async def test_a_huge_create_fails_and_leaves_everything_readable(
    stub: service_pb2_grpc.JobsServiceAsyncStub,
    watch_stub: watch_pb2_grpc.WatchServiceAsyncStub,
    data_dir: Path,
    size: int,
) -> None:
    await stub.BlockdevCreate(create("small", "small.img", 4096))
    await stub.BlockdevCreate(create("huge", "huge.img", size))
    assert await concluded(stub, "huge") == "Could not create 'huge.img': File too large"
    assert not (data_dir / "huge.img").exists()
    listed = (await stub.QueryJobs(service_pb2.QueryJobsRequest())).result
    assert sorted(job.id for job in listed) == ["huge", "small"]
    snapshot = await anext(aiter(watch_stub.WatchJobs(watch_pb2.WatchJobsRequest())))
    assert sorted(job.id for job in snapshot.jobs) == ["huge", "small"]


def test_a_record_out_of_range_still_shows_its_job(caplog: pytest.LogCaptureFixture) -> None:
    info = JobInfo("bad", JobType.CREATE, JobStatus.RUNNING, 0, 2**64)
    message = job_info_message(info)
    assert (message.id, message.total_progress) == ("bad", 0)
    assert "does not fit the schema" in caplog.text

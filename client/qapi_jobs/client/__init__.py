"""The typed Python client of qapi-jobs.

``JobsClient`` (synchronous) and ``AsyncJobsClient`` (asyncio) have one
method per command of the QAPI schema, generated from it (keyword
arguments named after the members, typed with the generated messages and
enums), resumable watch iterators, and helpers that wait for a job or run
one to its end.  Refusals raise :class:`QapiJobsError` subclasses.

    from qapi_jobs.client import JobsClient
    from qapi_jobs.v1 import image_pb2

    with JobsClient("127.0.0.1:50051") as client:
        options = image_pb2.BlockdevCreateOptions(
            driver=image_pb2.IMAGE_DRIVER_RAW,
            raw=image_pb2.ImageCreateOptionsRaw(filename="disk.raw", size=1 << 30),
        )
        outcome = client.run_job(
            "disk", lambda: client.blockdev_create(job_id="disk", options=options)
        )
"""

from qapi_jobs.client.async_client import AsyncJobsClient
from qapi_jobs.client.channel import DEFAULT_ADDRESS, DEFAULT_TIMEOUT, ENV_SERVER, Tls
from qapi_jobs.client.errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FieldViolation,
    InternalError,
    InvalidArgument,
    JobNotFound,
    OutOfRange,
    PermissionDenied,
    QapiJobsError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    UnknownError,
    WrongState,
)
from qapi_jobs.client.follow import JobEndedError, JobFailed, JobOutcome
from qapi_jobs.client.items import (
    EventItem,
    Heartbeat,
    JobsSnapshot,
    Resync,
    WatchItem,
    status_name,
    status_value,
)
from qapi_jobs.client.resume import ReconnectPolicy
from qapi_jobs.client.sync_client import JobsClient

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TIMEOUT",
    "ENV_SERVER",
    "Aborted",
    "AlreadyExists",
    "AsyncJobsClient",
    "Cancelled",
    "DeadlineExceeded",
    "EventItem",
    "FieldViolation",
    "Heartbeat",
    "InternalError",
    "InvalidArgument",
    "JobEndedError",
    "JobFailed",
    "JobNotFound",
    "JobOutcome",
    "JobsClient",
    "JobsSnapshot",
    "OutOfRange",
    "PermissionDenied",
    "QapiJobsError",
    "ReconnectPolicy",
    "ResourceExhausted",
    "Resync",
    "Tls",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "UnknownError",
    "WatchItem",
    "WrongState",
    "status_name",
    "status_value",
]

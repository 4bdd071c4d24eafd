"""Refusals become exceptions keyed on the status code, carrying the ErrorInfo."""

from __future__ import annotations

import grpc
import pytest

from qapi_jobs.client import (
    AlreadyExists,
    InvalidArgument,
    JobNotFound,
    JobsClient,
    QapiJobsError,
    Unavailable,
    WrongState,
)
from qapi_jobs.client.errors import error_class, make_error
from qapi_jobs.v1 import image_pb2
from tests.support.images import dense_file
from tests.support.requests import FULL, SLOW, raw_image
from tests.support.servers import ThreadedServer, free_port

DOMAIN = "qapi-jobs.qapi_jobs.v1"


def test_unknown_job_is_job_not_found_with_error_info(client: JobsClient) -> None:
    with pytest.raises(JobNotFound) as caught:
        client.job_pause(id="missing")
    err = caught.value
    assert err.code == grpc.StatusCode.NOT_FOUND
    assert err.message == "Job not found" and str(err) == "Job not found"
    assert err.reason == "JOB_NOT_FOUND" and err.domain == DOMAIN
    assert err.job_id == "missing"
    assert len(err.details) == 1


def test_verb_refusal_is_wrong_state_naming_verb_and_status(
    client: JobsClient, threaded_server: ThreadedServer, job_id: str
) -> None:
    source = dense_file(threaded_server.data_dir, f"{job_id}-src.raw")
    client.drive_backup(
        job_id=job_id, device=source, target=f"{job_id}-copy.raw", sync=FULL, speed=SLOW
    )
    try:
        client.wait_for_status(job_id, "running", timeout=10)
        with pytest.raises(WrongState) as caught:
            client.job_complete(id=job_id)
        err = caught.value
        assert (
            err.message
            == f"Job '{job_id}' in state 'running' cannot accept command verb 'complete'"
        )
        assert err.reason == "VERB_NOT_ALLOWED"
        assert (err.job_id, err.job_status, err.verb) == (job_id, "running", "complete")
        with pytest.raises(AlreadyExists) as duplicate:
            client.blockdev_create(job_id=job_id, options=raw_image(f"{job_id}-other.raw"))
        assert duplicate.value.message == f"Job ID '{job_id}' already in use"
    finally:
        client.job_cancel(id=job_id)
        client.wait_for_status(job_id, "null", check=False, timeout=10)


def test_bad_arguments_are_invalid_argument(client: JobsClient) -> None:
    with pytest.raises(InvalidArgument) as caught:
        client.blockdev_create(job_id="bad/id", options=raw_image("bad.raw"))
    assert caught.value.message == "Invalid job ID 'bad/id'"
    with pytest.raises(InvalidArgument) as unset:
        client.blockdev_create(job_id="x", options=image_pb2.BlockdevCreateOptions())
    assert unset.value.metadata["field"] == "options.driver"


def test_no_server_is_unavailable() -> None:
    with JobsClient(f"127.0.0.1:{free_port()}", timeout=5) as client, pytest.raises(Unavailable):
        client.query_jobs()


def test_every_code_has_its_class() -> None:
    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        cls = error_class(code)
        assert issubclass(cls, QapiJobsError)
        err = make_error(code, "text")
        assert isinstance(err, cls) and err.code == code and err.reason == ""


def test_details_of_another_status_are_ignored() -> None:
    from google.rpc import status_pb2

    other = status_pb2.Status(code=grpc.StatusCode.INTERNAL.value[0], message="x")
    err = make_error(
        grpc.StatusCode.NOT_FOUND, "gone", [("grpc-status-details-bin", other.SerializeToString())]
    )
    assert isinstance(err, JobNotFound) and err.details == ()
    garbage = make_error(grpc.StatusCode.NOT_FOUND, "gone", [("grpc-status-details-bin", b"\xff")])
    assert garbage.reason == ""


def test_a_request_the_server_cannot_read_names_the_field(client: JobsClient) -> None:
    with pytest.raises(InvalidArgument) as caught:
        client.blockdev_create(job_id="fv", options=image_pb2.BlockdevCreateOptions())
    err = caught.value
    assert err.reason == "INVALID_REQUEST"
    assert [v.field for v in err.field_violations] == [err.metadata["field"]]
    assert err.field_violations[0].description
    assert err.facts == err.metadata and err.hint is None


def _status_trailer(code: grpc.StatusCode, message: str, metadata: dict[str, str]) -> bytes:
    from google.protobuf import any_pb2
    from google.rpc import error_details_pb2, status_pb2

    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="R", domain=DOMAIN, metadata=metadata))
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    serialized: bytes = status.SerializeToString()
    return serialized


def test_the_hint_and_the_facts_are_apart() -> None:
    metadata = {"hint": "dismiss it first", "job_id": "j1", "size": "1024"}
    trailer = _status_trailer(grpc.StatusCode.ALREADY_EXISTS, "taken", metadata)
    err = make_error(
        grpc.StatusCode.ALREADY_EXISTS, "taken", [("grpc-status-details-bin", trailer)]
    )
    assert isinstance(err, AlreadyExists) and err.reason == "R"
    assert err.hint == "dismiss it first"
    assert err.facts == {"job_id": "j1", "size": "1024"}

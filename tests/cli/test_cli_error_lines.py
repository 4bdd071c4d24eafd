"""The error lines of ``qapi-jobs`` for details no server path sends yet."""

from __future__ import annotations

import grpc

from qapi_jobs.client.cli.output import error_line
from qapi_jobs.client.errors import AlreadyExists, FieldViolation, InvalidArgument


def test_the_hint_goes_under_the_error_and_the_facts_between() -> None:
    err = AlreadyExists(
        "Job ID 'b1' already in use",
        reason="JOB_ID_IN_USE",
        metadata={"hint": "dismiss it first", "job_id": "b1"},
    )
    assert error_line(err).splitlines() == [
        "qapi-jobs: Job ID 'b1' already in use (ALREADY_EXISTS, JOB_ID_IN_USE)",
        "  job_id: b1",
        "hint: dismiss it first",
    ]


def test_field_violations_are_listed() -> None:
    err = InvalidArgument(
        "Invalid arguments",
        code=grpc.StatusCode.INVALID_ARGUMENT,
        field_violations=[FieldViolation("options.size", "must be a multiple of 512")],
    )
    assert error_line(err).splitlines()[1] == "  options.size: must be a multiple of 512"

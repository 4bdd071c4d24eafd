"""The manager's refusals: QEMU's exact texts, with a kind and a stable reason."""

from __future__ import annotations

from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.status import JobStatus, JobVerb


def job_not_found(job_id: str) -> JobError:
    """A ``job-*`` command named no job."""
    return JobError(ErrorKind.NOT_FOUND, "Job not found", job_id=job_id, reason="JOB_NOT_FOUND")


def block_job_not_found(device: str, job_type: str | None = None) -> JobError:
    """A ``block-job-*`` command named no block job (QMP class DeviceNotActive).

    ``job_type`` is the type of a job that has the id but is no block job:
    the hint then points at the ``job-*`` command.
    """
    if job_type is None:
        hint = "No job has this ID; query-block-jobs lists the block jobs."
    else:
        hint = f"'{device}' is a {job_type} job, not a block job: use the job-* command instead."
    return JobError(
        ErrorKind.NOT_FOUND,
        f"Block job '{device}' not found",
        job_id=device,
        reason="BLOCK_JOB_NOT_FOUND",
        hint=hint,
    )


def verb_not_allowed(job_id: str, status: JobStatus, verb: JobVerb) -> JobError:
    """The verb table refused ``verb`` in ``status``."""
    return JobError(
        ErrorKind.WRONG_STATE,
        f"Job '{job_id}' in state '{status.value}' cannot accept command verb '{verb.value}'",
        job_id=job_id,
        status=status.value,
        verb=verb.value,
        reason="VERB_NOT_ALLOWED",
    )


def already_paused(job_id: str, status: JobStatus) -> JobError:
    """job-pause on a job the user (or the error policy) already paused."""
    return JobError(
        ErrorKind.WRONG_STATE,
        "Job is already paused",
        job_id=job_id,
        status=status.value,
        verb=JobVerb.PAUSE.value,
        reason="ALREADY_PAUSED",
    )


def not_paused(job_id: str, status: JobStatus) -> JobError:
    """job-resume on a job without a user pause."""
    return JobError(
        ErrorKind.WRONG_STATE,
        "Can't resume a job that was not paused",
        job_id=job_id,
        status=status.value,
        verb=JobVerb.RESUME.value,
        reason="NOT_PAUSED",
    )


def currently_paused(job_id: str, status: JobStatus) -> JobError:
    """block-job-cancel without force on a user-paused job."""
    return JobError(
        ErrorKind.WRONG_STATE,
        f"The block job for device '{job_id}' is currently paused",
        job_id=job_id,
        status=status.value,
        verb=JobVerb.CANCEL.value,
        reason="JOB_PAUSED",
    )


def cannot_complete(job_id: str, status: JobStatus) -> JobError:
    """job-complete after a cancel request, or on a job that cannot complete."""
    return JobError(
        ErrorKind.WRONG_STATE,
        f"The active block job '{job_id}' cannot be completed",
        job_id=job_id,
        status=status.value,
        verb=JobVerb.COMPLETE.value,
        reason="CANNOT_COMPLETE",
    )


def complete_refused(job_id: str, status: JobStatus, message: str) -> JobError:
    """The driver's own refusal of job-complete."""
    return JobError(
        ErrorKind.WRONG_STATE,
        message,
        job_id=job_id,
        status=status.value,
        verb=JobVerb.COMPLETE.value,
        reason="COMPLETE_REFUSED",
    )


def negative_speed(job_id: str) -> JobError:
    """A negative speed, at creation or in block-job-set-speed."""
    return JobError(
        ErrorKind.INVALID_ARGUMENT,
        "Parameter 'speed' expects a non-negative value",
        job_id=job_id,
        reason="NEGATIVE_SPEED",
    )


JOB_ID_RULE = "a job ID starts with a letter and holds only letters, digits, '-', '.' and '_'"
"""QEMU's rule for job IDs, in words (see manager.valid_job_id)."""


def invalid_job_id(job_id: str, default_from: str | None = None) -> JobError:
    """A malformed job id (including the empty string).

    ``default_from`` names the argument the id was taken from when the
    client gave none (QEMU takes ``device``): the message then says that
    the client must pass ``job-id``, since the id is not one it wrote.
    """
    if default_from is None:
        return JobError(
            ErrorKind.INVALID_ARGUMENT,
            f"Invalid job ID '{job_id}'",
            job_id=job_id,
            reason="INVALID_JOB_ID",
            hint=f"Choose another ID: {JOB_ID_RULE}.",
        )
    return JobError(
        ErrorKind.INVALID_ARGUMENT,
        f"No job ID given, and '{job_id}' (taken from '{default_from}') is not a valid job ID; "
        "pass 'job-id'",
        job_id=job_id,
        reason="INVALID_DEFAULT_JOB_ID",
        hint=f"Pass 'job-id': {JOB_ID_RULE}.",
        facts={"default_from": default_from},
    )


def job_id_in_use(job_id: str) -> JobError:
    """The id belongs to a job that has not reached ``null``."""
    return JobError(
        ErrorKind.ALREADY_EXISTS,
        f"Job ID '{job_id}' already in use",
        job_id=job_id,
        reason="JOB_ID_IN_USE",
        hint=("Choose another ID, or dismiss the old job first (job-dismiss) if it has concluded."),
    )


def transaction_aborted() -> JobError:
    """A transaction containing an ``abort`` action."""
    return JobError(
        ErrorKind.INVALID_ARGUMENT,
        "Transaction aborted using Abort action",
        reason="TRANSACTION_ABORTED",
    )


def shutting_down() -> JobError:
    """A job was requested while the manager shuts down (not a QEMU text)."""
    return JobError(
        ErrorKind.WRONG_STATE,
        "The job manager is shutting down",
        reason="SHUTTING_DOWN",
    )


def state_not_writable(reason: str) -> JobError:
    """The durable store refused to record what a command did."""
    return JobError(
        ErrorKind.WRONG_STATE,
        f"The server could not record this change durably: {reason}",
        reason="STATE_NOT_WRITABLE",
        hint="Free space in the data directory or make it writable, then retry.",
    )

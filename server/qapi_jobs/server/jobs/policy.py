"""Block jobs' I/O error policies: what an error leads to, and the io-status it leaves."""

from __future__ import annotations

import enum
import errno


class BlockdevOnError(enum.Enum):
    """A block job's policy for failed reads or writes (QAPI BlockdevOnError)."""

    REPORT = "report"
    IGNORE = "ignore"
    ENOSPC = "enospc"
    STOP = "stop"
    AUTO = "auto"


class BlockErrorAction(enum.Enum):
    """What the job did about an error, as reported in BLOCK_JOB_ERROR."""

    IGNORE = "ignore"
    REPORT = "report"
    STOP = "stop"


class IoStatus(enum.Enum):
    """A block job's io-status (QAPI BlockDeviceIoStatus)."""

    OK = "ok"
    FAILED = "failed"
    NOSPACE = "nospace"


def error_action(policy: BlockdevOnError, error_number: int) -> BlockErrorAction:
    """The action QEMU takes for an error ``error_number`` under ``policy``.

    ``enospc`` and ``auto`` behave alike for jobs: stop on a full disk,
    report anything else.
    """
    if policy in (BlockdevOnError.ENOSPC, BlockdevOnError.AUTO):
        return BlockErrorAction.STOP if error_number == errno.ENOSPC else BlockErrorAction.REPORT
    if policy is BlockdevOnError.STOP:
        return BlockErrorAction.STOP
    if policy is BlockdevOnError.IGNORE:
        return BlockErrorAction.IGNORE
    return BlockErrorAction.REPORT


def stopped_io_status(error_number: int) -> IoStatus:
    """The io-status a job stopped by ``error_number`` reports."""
    return IoStatus.NOSPACE if error_number == errno.ENOSPC else IoStatus.FAILED

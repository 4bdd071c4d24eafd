"""The builtin engine: raw images in a data directory, copied by Python code.

It runs ``blockdev-create`` (raw), ``drive-backup`` and ``drive-mirror``
(sync ``full``, format raw).  Everything that needs backing files or the
qcow2 format (``block-stream``, ``block-commit``, ``x-blockdev-amend``,
qcow2 images, the other sync modes) is refused with a message pointing at
the qemu engine.

:meth:`BuiltinEngine.prepare` checks the arguments' shape, then what the
engine supports, then the files, which it opens (see paths.py).  The plan
it returns claims the files when the job is created, after the job
manager's check of the job id (see claims.py): two jobs prepared before
either exists, e.g. two actions of one transaction, cannot both get them.
The sign of ``speed`` is left to the job manager, which refuses a negative
one after creating the job, as QEMU does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from qapi_jobs.server.engines.base import Engine, JobPlan
from qapi_jobs.server.engines.builtin import checks
from qapi_jobs.server.engines.builtin.arguments import UINT32_MAX, UINT64_MAX, Arguments
from qapi_jobs.server.engines.builtin.backup import BackupDriver
from qapi_jobs.server.engines.builtin.claims import ClaimingPlan, PathClaims
from qapi_jobs.server.engines.builtin.copy_job import SIZE_MISMATCH, CopySpec
from qapi_jobs.server.engines.builtin.create import CreateDriver, CreateSpec, RawPreallocation
from qapi_jobs.server.engines.builtin.mirror import DEFAULT_POLL_INTERVAL, MirrorDriver
from qapi_jobs.server.engines.builtin.paths import DataDir, ImagePath
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.policy import BlockdevOnError

DEFAULT_CHUNK_SIZE: Final = 4 << 20
"""Bytes moved per blocking call: large enough for copy_file_range to run at disk speed."""
DEFAULT_GRANULARITY: Final = 64 << 10
MIN_GRANULARITY: Final = 512
MAX_GRANULARITY: Final = 64 << 20
INT64_MAX: Final = 2**63 - 1

IMAGE_DRIVERS: Final = ("raw", "qcow2")
PREALLOC_MODES: Final = ("off", "metadata", "falloc", "full")
SYNC_MODES: Final = ("top", "full", "none", "incremental", "bitmap")
IMAGE_MODES: Final = ("existing", "absolute-paths")
ON_ERROR_POLICIES: Final = tuple(policy.value for policy in BlockdevOnError)

_CREATE_MEMBERS: Final = frozenset({"job-id", "options"})
_RAW_OPTIONS: Final = frozenset({"driver", "filename", "size", "preallocation"})
_QCOW2_OPTIONS: Final = _RAW_OPTIONS | {"backing-file", "backing-fmt", "cluster-size"}
_BACKUP_MEMBERS: Final = frozenset(
    {
        "job-id",
        "device",
        "target",
        "format",
        "sync",
        "mode",
        "speed",
        "on-source-error",
        "on-target-error",
        "auto-finalize",
        "auto-dismiss",
    }
)
_MIRROR_MEMBERS: Final = _BACKUP_MEMBERS | {"granularity", "buf-size"}

_QEMU_ONLY: Final = {
    "block-stream": "streams data out of backing files",
    "block-commit": "merges images of a backing chain",
    "x-blockdev-amend": "changes the options of qcow2 images",
}


def _unsupported(message: str, reason: str = "NEEDS_QEMU_ENGINE") -> JobError:
    return JobError(ErrorKind.UNSUPPORTED, message, reason=reason)


def _invalid(message: str, reason: str = "INVALID_PARAMETER") -> JobError:
    return JobError(ErrorKind.INVALID_ARGUMENT, message, reason=reason)


@dataclass(frozen=True)
class _CopyArguments:
    """The members of drive-backup / drive-mirror the engine acts on."""

    job_id: str
    device: str
    target: str
    create_target: bool
    speed: int
    on_source_error: BlockdevOnError
    on_target_error: BlockdevOnError
    auto_finalize: bool
    auto_dismiss: bool


class BuiltinEngine(Engine):
    """Runs create, backup and mirror jobs on raw files below ``data_dir``."""

    name = "builtin"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | DataDir,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        mirror_poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if chunk_size < MIN_GRANULARITY:
            raise ValueError(f"chunk_size must be at least {MIN_GRANULARITY} bytes")
        self.data_dir = data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir)
        self.chunk_size = chunk_size
        self.mirror_poll_interval = mirror_poll_interval
        self.claims = PathClaims()
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Awaitable[JobPlan]]] = {
            "blockdev-create": self._prepare_create,
            "drive-backup": self._prepare_backup,
            "drive-mirror": self._prepare_mirror,
        }

    @property
    def commands(self) -> frozenset[str]:
        """blockdev-create, drive-backup and drive-mirror."""
        return frozenset(self._handlers)

    async def prepare(self, command: str, arguments: Mapping[str, Any]) -> JobPlan:
        """Check a job-creating command and plan its job (see :class:`Engine`)."""
        if command in _QEMU_ONLY:
            raise _unsupported(
                f"'{command}' {_QEMU_ONLY[command]}, which raw images do not have; "
                "it runs on the qemu engine, not the builtin engine"
            )
        handler = self._handlers.get(command)
        if handler is None:
            raise _unsupported(
                f"'{command}' does not start a job the builtin engine runs",
                reason="UNKNOWN_COMMAND",
            )
        return await handler(arguments)

    async def _prepare_create(self, arguments: Mapping[str, Any]) -> JobPlan:
        args = Arguments(arguments, _CREATE_MEMBERS)
        job_id = args.string("job-id")
        driver = args.nested("options", _QCOW2_OPTIONS).enum("driver", IMAGE_DRIVERS)
        if driver == "qcow2":
            raise _unsupported(
                "Format 'qcow2' is created by the qemu engine; the builtin engine creates raw "
                "images only"
            )
        options = args.nested("options", _RAW_OPTIONS)
        filename = options.string("filename")
        size = options.required_integer("size", minimum=0, maximum=UINT64_MAX)
        preallocation = options.enum("preallocation", PREALLOC_MODES, "off")
        options.finish()
        args.finish()
        if preallocation == "metadata":
            raise _invalid(
                "Unsupported preallocation mode: metadata", reason="UNSUPPORTED_PREALLOCATION"
            )
        target = await asyncio.to_thread(
            checks.new_image,
            self.data_dir,
            filename,
            parameter="options.filename",
            hint="blockdev-create makes new files only: choose another name or remove the file",
        )
        spec = CreateSpec(
            target=target,
            size=size,
            preallocation=_raw_preallocation(preallocation),
            chunk_size=self.chunk_size,
        )
        return ClaimingPlan(
            job_id=job_id,
            driver=CreateDriver(spec, self.claims),
            auto_finalize=True,
            auto_dismiss=False,
            claims=self.claims,
            images=(target,),
        )

    async def _prepare_backup(self, arguments: Mapping[str, Any]) -> JobPlan:
        args = Arguments(arguments, _BACKUP_MEMBERS)
        copy = _copy_arguments(args)
        args.finish()
        spec = await asyncio.to_thread(self._copy_spec, copy, "backup", self.chunk_size)
        return _copy_plan(copy, BackupDriver(spec, self.claims), self.claims)

    async def _prepare_mirror(self, arguments: Mapping[str, Any]) -> JobPlan:
        args = Arguments(arguments, _MIRROR_MEMBERS)
        copy = _copy_arguments(args)
        granularity = args.integer("granularity", 0, minimum=0, maximum=UINT32_MAX)
        buf_size = args.integer("buf-size", 0, minimum=-(2**63), maximum=INT64_MAX)
        args.finish()
        if granularity != 0 and not MIN_GRANULARITY <= granularity <= MAX_GRANULARITY:
            raise _invalid("Parameter 'granularity' expects a value in range [512B, 64MB]")
        if granularity & (granularity - 1):
            raise _invalid("Parameter 'granularity' expects a power of 2")
        if buf_size < 0:
            raise _invalid("Invalid parameter 'buf-size'")
        granularity = granularity or DEFAULT_GRANULARITY
        # Like QEMU, never move less than one granule at a time.
        chunk_size = max(granularity, min(self.chunk_size, buf_size or self.chunk_size))
        spec = await asyncio.to_thread(self._copy_spec, copy, "mirror", chunk_size)
        driver = MirrorDriver(
            spec,
            self.claims,
            granularity=granularity,
            poll_interval=self.mirror_poll_interval,
        )
        return _copy_plan(copy, driver, self.claims)

    def _copy_spec(
        self, copy: _CopyArguments, kind: Literal["backup", "mirror"], chunk: int
    ) -> CopySpec:
        """Check the source and target files (blocking)."""
        source, source_st = checks.existing_image(
            self.data_dir, copy.device, parameter="device", writable=False
        )
        try:
            if copy.create_target:
                target = checks.new_image(
                    self.data_dir,
                    copy.target,
                    parameter="target",
                    hint="pass mode 'existing' to copy into it, or choose another target",
                )
            else:
                target = self._existing_target(copy, kind, source, source_st)
        except BaseException:
            source.close()
            raise
        return CopySpec(
            source=source, target=target, create_target=copy.create_target, chunk_size=chunk
        )

    def _existing_target(
        self,
        copy: _CopyArguments,
        kind: Literal["backup", "mirror"],
        source: ImagePath,
        source_st: os.stat_result,
    ) -> ImagePath:
        target, target_st = checks.existing_image(
            self.data_dir, copy.target, parameter="target", writable=True
        )
        try:
            self._check_target(kind, source, source_st, target_st)
        except BaseException:
            target.close()
            raise
        return target

    @staticmethod
    def _check_target(
        kind: Literal["backup", "mirror"],
        source: ImagePath,
        source_st: os.stat_result,
        target_st: os.stat_result,
    ) -> None:
        if checks.same_file(source_st, target_st):
            text = (
                "Can't mirror node into itself"
                if kind == "mirror"
                else (f"Can't back up '{source.name}' onto itself; choose another target")
            )
            raise _invalid(text, reason="SAME_IMAGE")
        # QEMU refuses a smaller backup target at once, but only finds out
        # about a smaller mirror target once the job runs; so do we.
        if kind == "backup" and target_st.st_size < source_st.st_size:
            raise _invalid(SIZE_MISMATCH, reason="SIZE_MISMATCH")


def _copy_arguments(args: Arguments) -> _CopyArguments:
    """Read and check the members drive-backup and drive-mirror share."""
    job_id = args.optional_string("job-id")
    device = args.string("device")
    target = args.string("target")
    image_format = args.enum("format", IMAGE_DRIVERS, "raw")
    sync = args.enum("sync", SYNC_MODES)
    mode = args.enum("mode", IMAGE_MODES, "absolute-paths")
    speed = args.integer("speed", 0, minimum=-(2**63), maximum=INT64_MAX)
    on_source_error = BlockdevOnError(args.enum("on-source-error", ON_ERROR_POLICIES, "report"))
    on_target_error = BlockdevOnError(args.enum("on-target-error", ON_ERROR_POLICIES, "report"))
    auto_finalize = args.boolean("auto-finalize", True)
    auto_dismiss = args.boolean("auto-dismiss", True)
    if sync != "full":
        raise _unsupported(
            f"Sync mode '{sync}' not supported: the builtin engine supports only 'full'; "
            "the qemu engine runs the others",
            reason="UNSUPPORTED_SYNC_MODE",
        )
    if image_format == "qcow2":
        raise _unsupported(
            "Format 'qcow2' is handled by the qemu engine; the builtin engine copies raw "
            "images only"
        )
    return _CopyArguments(
        job_id=device if job_id is None else job_id,
        device=device,
        target=target,
        create_target=mode == "absolute-paths",
        speed=speed,
        on_source_error=on_source_error,
        on_target_error=on_target_error,
        auto_finalize=auto_finalize,
        auto_dismiss=auto_dismiss,
    )


def _copy_plan(
    copy: _CopyArguments, driver: BackupDriver | MirrorDriver, claims: PathClaims
) -> JobPlan:
    return ClaimingPlan(
        job_id=copy.job_id,
        driver=driver,
        auto_finalize=copy.auto_finalize,
        auto_dismiss=copy.auto_dismiss,
        speed=copy.speed,
        on_source_error=copy.on_source_error,
        on_target_error=copy.on_target_error,
        claims=claims,
        images=(driver.spec.source, driver.spec.target),
    )


_RAW_PREALLOCATION: Final[dict[str, RawPreallocation]] = {
    "off": "off",
    "falloc": "falloc",
    "full": "full",
}


def _raw_preallocation(mode: str) -> RawPreallocation:
    return _RAW_PREALLOCATION[mode]

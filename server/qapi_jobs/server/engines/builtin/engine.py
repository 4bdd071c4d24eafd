"""The builtin engine: raw images in a data directory, copied by Python code.

It runs ``blockdev-create`` (raw), ``drive-backup`` and ``drive-mirror``
(sync ``full``, format raw).  Everything that needs backing files or the
qcow2 format (``block-stream``, ``block-commit``, ``x-blockdev-amend``,
qcow2 images, the other sync modes) is refused with a message pointing at
the qemu engine.

:meth:`BuiltinEngine.prepare` checks the arguments against the schema (see
:mod:`qapi_jobs.server.engines.schema`), then what the engine supports,
then the files, which it opens (see paths.py).  Members the engine does
not act on are ignored, so a member added to the schema needs no edit
here.  The spec it returns claims the files when the job is created, after
the job manager's check of the job id (see claims.py): two jobs prepared
before either exists, e.g. two actions of one transaction, cannot both get
them.  The sign of ``speed`` is left to the job manager, which refuses a
negative one after creating the job, as QEMU does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Literal

from google.protobuf.descriptor import ServiceDescriptor

from qapi_jobs.server.engines.base import Engine
from qapi_jobs.server.engines.builtin import checks
from qapi_jobs.server.engines.builtin.backup import BackupDriver
from qapi_jobs.server.engines.builtin.claims import PathClaims
from qapi_jobs.server.engines.builtin.copy_job import CopySpec, size_mismatch
from qapi_jobs.server.engines.builtin.create import CreateDriver, CreateSpec, RawPreallocation
from qapi_jobs.server.engines.builtin.image_job import ImageJob
from qapi_jobs.server.engines.builtin.mirror import DEFAULT_POLL_INTERVAL, MirrorDriver
from qapi_jobs.server.engines.builtin.paths import DataDir, ImagePath
from qapi_jobs.server.engines.schema import JOBS_SERVICE, CommandSchema
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.job import JobSpec
from qapi_jobs.server.jobs.policy import BlockdevOnError

DEFAULT_CHUNK_SIZE: Final = 4 << 20
"""Bytes moved per blocking call: large enough for copy_file_range to run at disk speed."""
DEFAULT_GRANULARITY: Final = 64 << 10
MIN_GRANULARITY: Final = 512
MAX_GRANULARITY: Final = 64 << 20

# What the builtin engine supports, and the defaults it applies to members
# the client left out (the schema documents them).
SUPPORTED_FORMAT: Final = "raw"
SUPPORTED_SYNC: Final = "full"
RAW_PREALLOCATION: Final[Mapping[str, RawPreallocation]] = {
    "off": "off",
    "falloc": "falloc",
    "full": "full",
}
DEFAULTS: Final[Mapping[str, object]] = {
    "preallocation": "off",
    "format": SUPPORTED_FORMAT,
    "mode": "absolute-paths",
    "speed": 0,
    "on-source-error": "report",
    "on-target-error": "report",
    "auto-finalize": True,
    "auto-dismiss": True,
    "granularity": 0,
    "buf-size": 0,
}
"""Defaults of optional members, by wire name; 0 for granularity and buf-size means
the engine's own choice."""
CREATES_TARGET: Final[Mapping[str, bool]] = {"existing": False, "absolute-paths": True}
"""The NewImageModes the engine supports, and whether the job creates its target in each."""

_QEMU_ONLY: Final = {
    "block-stream": "streams data out of backing files",
    "block-commit": "merges images of a backing chain",
    "x-blockdev-amend": "changes the options of qcow2 images",
}


def _unsupported(message: str, reason: str = "NEEDS_QEMU_ENGINE") -> JobError:
    return JobError(ErrorKind.UNSUPPORTED, message, reason=reason)


def _invalid(message: str, reason: str = "INVALID_PARAMETER") -> JobError:
    return JobError(ErrorKind.INVALID_ARGUMENT, message, reason=reason)


def _get(arguments: Mapping[str, Any], member: str) -> Any:
    """An optional member's value, or the engine's default for it."""
    return arguments.get(member, DEFAULTS[member])


def _policy(arguments: Mapping[str, Any], member: str) -> BlockdevOnError:
    value = _get(arguments, member)
    try:
        return BlockdevOnError(value)
    except ValueError:
        raise _unsupported(
            f"Error policy '{value}' for '{member}' is not supported by the builtin engine",
            reason="UNSUPPORTED_POLICY",
        ) from None


@dataclass(frozen=True)
class _CopyArguments:
    """The members of drive-backup / drive-mirror the engine acts on."""

    job_id: str
    job_id_from: str | None
    device: str
    target: str
    create_target: bool
    speed: int
    on_source_error: BlockdevOnError
    on_target_error: BlockdevOnError
    auto_finalize: bool
    auto_dismiss: bool


class BuiltinEngine(Engine):
    """Runs create, backup and mirror jobs on raw files below ``data_dir``.

    ``service`` is the JobsService descriptor whose schema the arguments
    are checked against (normally the one this server was built from).
    """

    name = "builtin"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | DataDir,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        mirror_poll_interval: float = DEFAULT_POLL_INTERVAL,
        service: ServiceDescriptor = JOBS_SERVICE,
    ) -> None:
        if chunk_size < MIN_GRANULARITY:
            raise ValueError(f"chunk_size must be at least {MIN_GRANULARITY} bytes")
        self.data_dir = data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir)
        self.chunk_size = chunk_size
        self.mirror_poll_interval = mirror_poll_interval
        self.claims = PathClaims()
        self.schema = CommandSchema(service)
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Awaitable[JobSpec]]] = {
            "blockdev-create": self._prepare_create,
            "drive-backup": self._prepare_backup,
            "drive-mirror": self._prepare_mirror,
        }

    @property
    def commands(self) -> frozenset[str]:
        """blockdev-create, drive-backup and drive-mirror."""
        return frozenset(self._handlers)

    async def prepare(self, command: str, arguments: Mapping[str, Any]) -> JobSpec:
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
        return await handler(self.schema.check(command, arguments))

    async def _prepare_create(self, arguments: Mapping[str, Any]) -> JobSpec:
        options = arguments["options"]
        driver = options["driver"]
        if driver != SUPPORTED_FORMAT:
            raise _unsupported(
                f"Format '{driver}' is created by the qemu engine; the builtin engine creates "
                f"{SUPPORTED_FORMAT} images only"
            )
        preallocation = _get(options, "preallocation")
        if preallocation not in RAW_PREALLOCATION:
            raise _invalid(
                f"Unsupported preallocation mode: {preallocation}",
                reason="UNSUPPORTED_PREALLOCATION",
            )
        target = await asyncio.to_thread(
            checks.new_image,
            self.data_dir,
            options["filename"],
            parameter="options.filename",
            hint="blockdev-create makes new files only: choose another name or remove the file",
        )
        spec = CreateSpec(
            target=target,
            size=options["size"],
            preallocation=RAW_PREALLOCATION[preallocation],
            chunk_size=self.chunk_size,
        )
        return self._claiming_spec(
            CreateDriver(spec, self.claims),
            (target,),
            job_id=arguments["job-id"],
            auto_finalize=True,
            auto_dismiss=False,
        )

    async def _prepare_backup(self, arguments: Mapping[str, Any]) -> JobSpec:
        copy = _copy_arguments(arguments)
        spec = await asyncio.to_thread(self._copy_spec, copy, "backup", self.chunk_size)
        return self._copy_job_spec(copy, BackupDriver(spec, self.claims))

    async def _prepare_mirror(self, arguments: Mapping[str, Any]) -> JobSpec:
        copy = _copy_arguments(arguments)
        granularity: int = _get(arguments, "granularity")
        buf_size: int = _get(arguments, "buf-size")
        if granularity != 0 and not MIN_GRANULARITY <= granularity <= MAX_GRANULARITY:
            raise _invalid("Parameter 'granularity' expects a value in range [512B, 64MB]")
        if granularity & (granularity - 1):
            raise _invalid("Parameter 'granularity' expects a power of 2")
        if buf_size < 0:
            raise _invalid("Invalid parameter 'buf-size'")
        granularity = granularity or DEFAULT_GRANULARITY
        # Never more than buf-size in flight, and never less than one granule.
        chunk_size = min(self.chunk_size, buf_size or self.chunk_size)
        chunk_size = max(granularity, chunk_size - chunk_size % granularity)
        spec = await asyncio.to_thread(self._copy_spec, copy, "mirror", chunk_size)
        driver = MirrorDriver(
            spec,
            self.claims,
            granularity=granularity,
            poll_interval=self.mirror_poll_interval,
        )
        return self._copy_job_spec(copy, driver)

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
            raise size_mismatch(source_st.st_size, target_st.st_size)

    def _claiming_spec(
        self,
        driver: ImageJob,
        images: tuple[ImagePath, ...],
        **fields: Any,
    ) -> JobSpec:
        """A JobSpec whose job claims ``images`` for ``driver`` when it is created.

        The driver releases them in ``clean()``, which the job manager owes
        it from the moment the precheck has run.
        """
        claim = partial(self.claims.claim, driver, driver.job_type, images)
        return JobSpec(driver=driver, precheck=claim, **fields)

    def _copy_job_spec(self, copy: _CopyArguments, driver: BackupDriver | MirrorDriver) -> JobSpec:
        return self._claiming_spec(
            driver,
            (driver.spec.source, driver.spec.target),
            job_id=copy.job_id,
            job_id_from=copy.job_id_from,
            auto_finalize=copy.auto_finalize,
            auto_dismiss=copy.auto_dismiss,
            speed=copy.speed,
            on_source_error=copy.on_source_error,
            on_target_error=copy.on_target_error,
        )


def _copy_arguments(arguments: Mapping[str, Any]) -> _CopyArguments:
    """Read the members drive-backup and drive-mirror share; refuse what is not supported."""
    sync = arguments["sync"]
    if sync != SUPPORTED_SYNC:
        raise _unsupported(
            f"Sync mode '{sync}' not supported: the builtin engine supports only "
            f"'{SUPPORTED_SYNC}'; the qemu engine runs the others",
            reason="UNSUPPORTED_SYNC_MODE",
        )
    image_format = _get(arguments, "format")
    if image_format != SUPPORTED_FORMAT:
        raise _unsupported(
            f"Format '{image_format}' is handled by the qemu engine; the builtin engine copies "
            f"{SUPPORTED_FORMAT} images only"
        )
    mode = _get(arguments, "mode")
    if mode not in CREATES_TARGET:
        raise _unsupported(
            f"Mode '{mode}' is not supported by the builtin engine", reason="UNSUPPORTED_MODE"
        )
    device: str = arguments["device"]
    job_id: str | None = arguments.get("job-id")
    return _CopyArguments(
        job_id=device if job_id is None else job_id,
        job_id_from="device" if job_id is None else None,
        device=device,
        target=arguments["target"],
        create_target=CREATES_TARGET[mode],
        speed=_get(arguments, "speed"),
        on_source_error=_policy(arguments, "on-source-error"),
        on_target_error=_policy(arguments, "on-target-error"),
        auto_finalize=_get(arguments, "auto-finalize"),
        auto_dismiss=_get(arguments, "auto-dismiss"),
    )

"""One recipe per job-creating command: check, create files, open nodes, name the QMP job command.

A recipe turns the project's path-based arguments into QEMU's node-based
ones.  It checks paths and reads backing chains before any QMP command,
creates new files itself with ``O_EXCL`` (an existing file is never
truncated), opens the images as engine-named nodes and returns a
:class:`Launch`: the job command and everything to undo.  If any step
fails, the recipe undoes what it did before raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from qapi_jobs.server.engines.qemu import graph
from qapi_jobs.server.engines.qemu.chain import Layer, backing_string, read_chain
from qapi_jobs.server.engines.qemu.errors import job_error
from qapi_jobs.server.engines.qemu.graph import NodeNames, OpenNodes
from qapi_jobs.server.engines.qemu.paths import ImageFile, ImageRoot
from qapi_jobs.server.engines.qemu.qmp import QmpClient, QmpError
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.status import JobType

Arguments = Mapping[str, Any]

_COPY_SYNC: Final = ("full", "top", "none")
_POLICY_MEMBERS: Final = ("speed", "on-source-error", "on-target-error")


@dataclass
class Launch:
    """A prepared job: the QMP command that starts it and what to undo afterwards."""

    job_id: str
    job_type: JobType
    command: str
    arguments: dict[str, Any]
    auto_finalize: bool = True
    auto_dismiss: bool = True
    nodes: OpenNodes = field(default_factory=OpenNodes)
    created: list[Path] = field(default_factory=list)
    """Files this job created: removed if the job fails or is cancelled."""
    owner: str | None = None
    """Who started the job (opaque to the engine, see ``jobs.job.CREATOR``)."""

    @property
    def block(self) -> bool:
        """Whether QEMU runs it as a block job (BLOCK_JOB_* events, query-block-jobs)."""
        return self.job_type is not JobType.CREATE

    async def undo(self, qmp: QmpClient | None, *, remove_files: bool) -> None:
        """Close the nodes (if the daemon is there) and remove the created files."""
        if qmp is not None and qmp.connected:
            await self.nodes.close(qmp)
        if remove_files:
            await asyncio.to_thread(_unlink_all, self.created)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@dataclass
class Kitchen:
    """What every recipe needs: the daemon's connection, the data directory, node names."""

    qmp: QmpClient
    images: ImageRoot
    names: NodeNames
    private_dir: Path
    """A 0700 directory for the files that hand secrets to the daemon."""


Recipe = Callable[[Kitchen, Arguments], Awaitable[Launch]]


def _unsupported(message: str) -> JobError:
    return JobError(ErrorKind.UNSUPPORTED, message, reason="UNSUPPORTED_OPTION")


def _invalid(message: str, reason: str = "INVALID_PARAMETER") -> JobError:
    return JobError(ErrorKind.INVALID_ARGUMENT, message, reason=reason)


async def _new_file(kitchen: Kitchen, launch: Launch, name: str, parameter: str) -> ImageFile:
    """Create ``name`` empty and exclusively; remember it for undo."""
    image = await asyncio.to_thread(
        kitchen.images.create,
        name,
        parameter=parameter,
        hint="choose a new file name, or use mode 'existing' where the command has it",
    )
    launch.created.append(image.real)
    launch.nodes.names[str(image.real)] = image.name
    return image


async def _chain(kitchen: Kitchen, name: str, parameter: str) -> list[Layer]:
    image = await asyncio.to_thread(kitchen.images.existing, name, parameter=parameter)
    return await read_chain(kitchen.images, image)


async def _cooked(kitchen: Kitchen, launch: Launch, steps: Awaitable[None]) -> Launch:
    """Run ``steps``; on failure undo what they did and raise QEMU's refusal as JobError."""
    try:
        await steps
    except BaseException as error:
        with contextlib.suppress(Exception):
            await launch.undo(kitchen.qmp, remove_files=True)
        if isinstance(error, QmpError):
            raise job_error(error, launch.nodes.names) from None
        raise
    return launch


def _flags(arguments: Arguments) -> dict[str, Any]:
    return {"auto-finalize": arguments.get("auto-finalize", True), "auto-dismiss": False}


# ------------------------------------------------------------------ create


async def blockdev_create(kitchen: Kitchen, arguments: Arguments) -> Launch:
    """blockdev-create: raw through QEMU's file driver, qcow2 on an engine-opened file node."""
    options = dict(arguments["options"])
    driver = options.pop("driver")
    name = options.pop("filename")
    backing = None
    if driver == "qcow2" and "backing-file" in options:
        backing = await _chain(kitchen, options.pop("backing-file"), "backing-file")
    elif "backing-fmt" in options:
        raise _invalid("Parameter 'backing-fmt' needs 'backing-file'")
    launch = Launch(arguments["job-id"], JobType.CREATE, "blockdev-create", {}, auto_dismiss=False)

    async def steps() -> None:
        image = await _new_file(kitchen, launch, name, "filename")
        if driver == "raw":
            qemu_options = {"driver": "file", "filename": str(image.real), **options}
        else:
            node = await graph.add_file(
                kitchen.qmp,
                launch.nodes,
                kitchen.names.next() + "-f",
                image.real,
                image.name,
                read_only=False,
            )
            qemu_options = {"driver": "qcow2", "file": node, **options}
            if backing is not None:
                qemu_options["backing-file"] = backing_string(image.real, backing[0].path.real)
                qemu_options["backing-fmt"] = options.get("backing-fmt", backing[0].format)
        launch.arguments = {"job-id": launch.job_id, "options": qemu_options}

    return await _cooked(kitchen, launch, steps())


# ---------------------------------------------------------- backup, mirror


async def drive_backup(kitchen: Kitchen, arguments: Arguments) -> Launch:
    """drive-backup as blockdev-backup between engine-opened nodes."""
    return await _copy(kitchen, arguments, JobType.BACKUP, "blockdev-backup", ())


async def drive_mirror(kitchen: Kitchen, arguments: Arguments) -> Launch:
    """drive-mirror as blockdev-mirror between engine-opened nodes."""
    return await _copy(
        kitchen, arguments, JobType.MIRROR, "blockdev-mirror", ("granularity", "buf-size")
    )


async def _copy(
    kitchen: Kitchen,
    arguments: Arguments,
    job_type: JobType,
    command: str,
    extra: tuple[str, ...],
) -> Launch:
    sync = arguments["sync"]
    if sync not in _COPY_SYNC:
        raise _unsupported(
            f"Sync mode '{sync}' needs dirty bitmaps, which the service does not offer; "
            "use 'full', 'top' or 'none'"
        )
    source = await _chain(kitchen, arguments["device"], "device")
    existing = arguments.get("mode", "absolute-paths") == "existing"
    fmt = arguments.get("format", source[0].format)
    target_chain = await _chain(kitchen, arguments["target"], "target") if existing else None
    job_id = arguments.get("job-id", arguments["device"])
    launch = Launch(job_id, job_type, command, {}, arguments.get("auto-finalize", True))
    launch.auto_dismiss = arguments.get("auto-dismiss", True)

    async def steps() -> None:
        if target_chain is not None:
            target = target_chain[0]
            if arguments.get("format") is not None and target.format != fmt:
                raise _invalid(
                    f"Target '{target.name}' is a {target.format} image, not {fmt}",
                    reason="FORMAT_MISMATCH",
                )
        else:
            target = await _create_target(kitchen, launch, arguments["target"], fmt, source, sync)
        source_nodes = await graph.open_chain(
            kitchen.qmp, launch.nodes, kitchen.names, source, read_only=True
        )
        target_node = await graph.open_image(
            kitchen.qmp, launch.nodes, kitchen.names.next(), target, read_only=False
        )
        launch.arguments = {
            "job-id": job_id,
            "device": source_nodes[0],
            "target": target_node,
            "sync": sync,
            **_flags(arguments),
            **{key: arguments[key] for key in _POLICY_MEMBERS + extra if key in arguments},
        }

    return await _cooked(kitchen, launch, steps())


async def _create_target(
    kitchen: Kitchen, launch: Launch, name: str, fmt: str, source: list[Layer], sync: str
) -> Layer:
    """A new target as drive-backup makes it: alone for sync full, else on the source's backing."""
    image = await _new_file(kitchen, launch, name, "target")
    size = source[0].virtual_size
    backing = source[1] if sync != "full" and len(source) > 1 else None
    if fmt == "raw":
        await asyncio.to_thread(os.truncate, image.real, size)
    else:
        command = ["qemu-img", "create", "-q", "-f", "qcow2"]
        if backing is not None:
            command += [
                "-u",
                "-b",
                backing_string(image.real, backing.path.real),
                "-F",
                backing.format,
            ]
        await _run(*command, str(image.real), str(size))
    return Layer(image, fmt, size, None, None)


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise JobError(
            ErrorKind.INVALID_ARGUMENT,
            f"Could not create the target image: {err.decode(errors='replace').strip()}",
            reason="TARGET_CREATE_FAILED",
        )


# ---------------------------------------------------------- stream, commit


def _find(chain: list[Layer], name: str | None, parameter: str, images: ImageRoot) -> int | None:
    if name is None:
        return None
    image = images.existing(name, parameter=parameter)
    for index, layer in enumerate(chain):
        if layer.path.real == image.real:
            return index
    raise _invalid(
        f"'{image.name}' is not in the backing chain of '{chain[0].name}'",
        reason="NOT_IN_BACKING_CHAIN",
    )


async def block_stream(kitchen: Kitchen, arguments: Arguments) -> Launch:
    """block-stream on the device's chain, opened read-write; the backing string stays relative."""
    chain = await _chain(kitchen, arguments["device"], "device")
    base = await asyncio.to_thread(_find, chain, arguments.get("base"), "base", kitchen.images)
    if base == 0:
        raise _invalid("Parameter 'base' names the device itself; name one of its backing files")
    job_id = arguments.get("job-id", arguments["device"])
    launch = Launch(
        job_id, JobType.STREAM, "block-stream", {}, arguments.get("auto-finalize", True)
    )
    launch.auto_dismiss = arguments.get("auto-dismiss", True)

    async def steps() -> None:
        nodes = await graph.open_chain(
            kitchen.qmp, launch.nodes, kitchen.names, chain, read_only=False
        )
        qemu: dict[str, Any] = {"job-id": job_id, "device": nodes[0], **_flags(arguments)}
        if base is not None:
            qemu["base-node"] = nodes[base]
            qemu["backing-file"] = backing_string(chain[0].path.real, chain[base].path.real)
        qemu.update({key: arguments[key] for key in ("speed", "on-error") if key in arguments})
        launch.arguments = qemu

    return await _cooked(kitchen, launch, steps())


async def block_commit(kitchen: Kitchen, arguments: Arguments) -> Launch:
    """block-commit, intermediate (top below the device) or active (top is the device: READY).

    The whole chain is opened read-write: an intermediate commit whose
    overlay is read-only crashes qemu-storage-daemon 7.2 and 10.0.
    """
    chain = await _chain(kitchen, arguments["device"], "device")
    if len(chain) < 2:
        raise _invalid(
            f"'{chain[0].name}' has no backing file to commit into", reason="NO_BACKING_FILE"
        )
    top = await asyncio.to_thread(_find, chain, arguments.get("top"), "top", kitchen.images)
    base = await asyncio.to_thread(_find, chain, arguments.get("base"), "base", kitchen.images)
    top = top or 0
    base = len(chain) - 1 if base is None else base
    if base <= top:
        raise _invalid(
            f"Base '{chain[base].name}' must lie below top '{chain[top].name}' in the chain",
            reason="BASE_NOT_BELOW_TOP",
        )
    job_id = arguments.get("job-id", arguments["device"])
    launch = Launch(
        job_id, JobType.COMMIT, "block-commit", {}, arguments.get("auto-finalize", True)
    )
    launch.auto_dismiss = arguments.get("auto-dismiss", True)

    async def steps() -> None:
        nodes = await graph.open_chain(
            kitchen.qmp, launch.nodes, kitchen.names, chain, read_only=False
        )
        qemu: dict[str, Any] = {
            "job-id": job_id,
            "device": nodes[0],
            "base-node": nodes[base],
            **_flags(arguments),
        }
        if top > 0:
            qemu["top-node"] = nodes[top]
            overlay = chain[top - 1].path.real
            qemu["backing-file"] = backing_string(overlay, chain[base].path.real)
        qemu.update({key: arguments[key] for key in ("speed", "on-error") if key in arguments})
        launch.arguments = qemu

    return await _cooked(kitchen, launch, steps())


# ------------------------------------------------------------------ amend


async def blockdev_amend(kitchen: Kitchen, arguments: Arguments) -> Launch:
    """x-blockdev-amend of a qcow2 image's LUKS key slots.

    Secrets reach the daemon as ``secret`` objects read from 0600 files in
    the private run directory, each unlinked as soon as the daemon has
    read it: no secret is ever part of a QMP command, an event or a log.
    The image is opened with ``secret`` (or, to remove a key, with
    ``old-secret``) and QEMU's amend options get the ``format: luks`` the
    project's schema leaves implicit.
    """
    options = dict(arguments["options"])
    chain = await _chain(kitchen, options["filename"], "filename")
    image = chain[0]
    if image.format != "qcow2":
        raise _invalid(f"'{image.name}' is not a qcow2 image", reason="NOT_QCOW2")
    encrypt = dict(options.get("encrypt", {}))
    unlock = encrypt.pop("secret", None) or encrypt.get("old-secret")
    launch = Launch(arguments["job-id"], JobType.AMEND, "x-blockdev-amend", {}, auto_dismiss=False)

    async def steps() -> None:
        base = kitchen.names.next()
        secrets: dict[str, str] = {}
        for member in ("new-secret", "old-secret"):
            if member in encrypt:
                secrets[member] = await _secret(
                    kitchen, launch, f"{base}-{member}", encrypt[member]
                )
        file_node = await graph.add_file(
            kitchen.qmp, launch.nodes, f"{base}-f", image.path.real, image.name, read_only=False
        )
        node: dict[str, Any] = {"driver": "qcow2", "node-name": base, "file": file_node,
                                "backing": None}  # fmt: skip
        if unlock is not None:
            key = await _secret(kitchen, launch, f"{base}-key", unlock)
            node["encrypt"] = {"format": "luks", "key-secret": key}
        launch.nodes.names[base] = image.name
        await kitchen.qmp.execute("blockdev-add", node)
        launch.nodes.added.append(base)
        qemu_options: dict[str, Any] = {"driver": "qcow2"}
        if encrypt:
            qemu_options["encrypt"] = {"format": "luks", **encrypt, **secrets}
        launch.arguments = {"job-id": launch.job_id, "node-name": base, "options": qemu_options}
        if "force" in arguments:
            launch.arguments["force"] = arguments["force"]

    return await _cooked(kitchen, launch, steps())


async def _secret(kitchen: Kitchen, launch: Launch, object_id: str, value: str) -> str:
    """Hand ``value`` to the daemon as secret object ``object_id``, through a file."""
    path = kitchen.private_dir / object_id

    def write() -> None:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(value)

    await asyncio.to_thread(write)
    try:
        await kitchen.qmp.execute(
            "object-add", {"qom-type": "secret", "id": object_id, "file": str(path)}
        )
    finally:
        await asyncio.to_thread(path.unlink)
    launch.nodes.objects.append(object_id)
    return object_id


RECIPES: Final[dict[str, Recipe]] = {
    "blockdev-create": blockdev_create,
    "drive-backup": drive_backup,
    "drive-mirror": drive_mirror,
    "block-stream": block_stream,
    "block-commit": block_commit,
    "x-blockdev-amend": blockdev_amend,
}
"""The job-creating commands the qemu engine runs so far."""

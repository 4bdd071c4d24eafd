"""Backing chains read from the images themselves, confined to the data directory.

A chain is read one layer at a time with ``qemu-img info`` *without*
``--backing-chain``: qemu-img then opens only the image named, never its
backing file, so a backing string that names a protocol (``nbd:``,
``json:{...}``) or a file outside the data directory is refused here
before QEMU ever opens it.  Formats are detected from the qcow2 magic
and passed explicitly, so QEMU never probes a format either.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from qapi_jobs.server.engines.qemu.paths import ImageFile, ImageRoot
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

QCOW2_MAGIC: Final = b"QFI\xfb"
FORMATS: Final = ("raw", "qcow2")
MAX_DEPTH: Final = 64
"""More layers than any sane chain has; stops a loop of backing files."""
_PROTOCOL: Final = re.compile(r"[A-Za-z0-9_.+-]*:")


@dataclass(frozen=True)
class Layer:
    """One image of a chain."""

    path: ImageFile
    format: str
    virtual_size: int
    backing: str | None
    """The backing string exactly as the image stores it (None: no backing file)."""
    backing_format: str | None
    """The backing file's format as the image declares it, if it does."""

    @property
    def name(self) -> str:
        """The image's path relative to the data directory (what messages quote)."""
        return self.path.name


def detect_format(real: Path) -> str:
    """``qcow2`` when the file starts with the qcow2 magic, else ``raw`` (blocking)."""
    with real.open("rb") as file:
        return "qcow2" if file.read(4) == QCOW2_MAGIC else "raw"


def backing_string(image: Path, backing: Path) -> str:
    """The backing string to store in ``image``: relative to the image's directory."""
    return os.path.relpath(backing, image.parent)


async def read_chain(images: ImageRoot, top: ImageFile) -> list[Layer]:
    """Every layer from ``top`` down to the image without a backing file.

    Raises JobError: NOT_FOUND for a missing image, PERMISSION_DENIED for
    a backing file outside the data directory, INVALID_ARGUMENT for a
    ``json:`` or protocol backing string, a loop, or a format the engine
    does not run.
    """
    chain: list[Layer] = []
    current: ImageFile = top
    declared: str | None = None
    seen: set[Path] = set()
    while True:
        if current.real in seen or len(chain) >= MAX_DEPTH:
            raise JobError(
                ErrorKind.INVALID_ARGUMENT,
                f"The backing chain of '{top.name}' loops or is deeper than {MAX_DEPTH} images",
                reason="BACKING_CHAIN_LOOP",
            )
        seen.add(current.real)
        layer = await _read_layer(current, declared)
        chain.append(layer)
        if layer.backing is None:
            return chain
        current = await asyncio.to_thread(_resolve_backing, images, layer)
        declared = layer.backing_format


async def _read_layer(image: ImageFile, declared: str | None) -> Layer:
    if not await asyncio.to_thread(image.real.is_file):
        raise JobError(
            ErrorKind.NOT_FOUND,
            f"Could not open '{image.name}': No such file or directory",
            reason="IMAGE_NOT_FOUND",
        )
    fmt = declared if declared is not None else await asyncio.to_thread(detect_format, image.real)
    info = await _qemu_img_info(image, fmt)
    backing = info.get("backing-filename")
    declared_backing = info.get("backing-filename-format")
    if declared_backing is not None and declared_backing not in FORMATS:
        raise JobError(
            ErrorKind.UNSUPPORTED,
            f"The backing file of '{image.name}' has format '{declared_backing}'; "
            "the qemu engine runs raw and qcow2 images only",
            reason="UNSUPPORTED_FORMAT",
        )
    return Layer(
        image,
        fmt,
        int(str(info["virtual-size"])),
        str(backing) if backing else None,
        str(declared_backing) if declared_backing else None,
    )


async def _qemu_img_info(image: ImageFile, fmt: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        "qemu-img",
        "info",
        "-U",
        "-f",
        fmt,
        "--output=json",
        str(image.real),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        text = err.decode(errors="replace").strip().replace(str(image.real), image.name)
        raise JobError(
            ErrorKind.INVALID_ARGUMENT,
            text.removeprefix("qemu-img: ") or f"Could not read image '{image.name}'",
            reason="IMAGE_UNREADABLE",
        )
    info: dict[str, object] = json.loads(out)
    return info


def _resolve_backing(images: ImageRoot, layer: Layer) -> ImageFile:
    backing = layer.backing
    assert backing is not None
    if backing.startswith("json:") or _PROTOCOL.match(backing):
        raise JobError(
            ErrorKind.INVALID_ARGUMENT,
            f"The backing file of '{layer.name}' is a json: or protocol name; "
            "only image files inside the data directory can back an image",
            reason="BACKING_FILE_PROTOCOL",
        )
    return images.backing(layer.path, backing)

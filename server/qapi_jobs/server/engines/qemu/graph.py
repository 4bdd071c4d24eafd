"""Opening images as named node graphs in qemu-storage-daemon, and closing them.

Every image becomes a ``file`` node and a format node, named by the engine
(``qj<n>-f`` and ``qj<n>``): a client's names never reach QEMU.  Chains
are opened bottom-up, the lowest layer with ``backing: null`` so that QEMU
opens nothing the engine did not check, each higher layer naming the one
below it.  :class:`OpenNodes` remembers what was opened, so that a failed
setup and a finished job close exactly their own nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qapi_jobs.server.engines.qemu.chain import Layer
from qapi_jobs.server.engines.qemu.qmp import QmpClient, QmpError


@dataclass
class OpenNodes:
    """Nodes opened for one job, in the order they were added."""

    added: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    """QOM objects (secrets) the nodes use; deleted after the nodes."""
    names: dict[str, str] = field(default_factory=dict)
    """Node names and real paths → the client's paths, for scrubbing QEMU's texts."""

    @property
    def open(self) -> bool:
        """Whether anything is left to close."""
        return bool(self.added or self.objects)

    def forget(self) -> None:
        """Drop the lists: the daemon that held these nodes is gone."""
        self.added.clear()
        self.objects.clear()

    async def close(self, qmp: QmpClient) -> None:
        """Delete every node, newest first (format nodes before their files), then the objects.

        Stops at the first node QEMU still needs (QmpError "is busy"); the
        rest stays listed for a later call.
        """
        while self.added:
            try:
                await qmp.execute("blockdev-del", {"node-name": self.added[-1]})
            except QmpError as error:
                if not error.desc.startswith("Failed to find node with node-name="):
                    raise
            self.added.pop()
        while self.objects:
            await qmp.execute("object-del", {"id": self.objects[-1]})
            self.objects.pop()


class NodeNames:
    """Hands out node names no other job of this engine uses."""

    def __init__(self, start: int = 1) -> None:
        self.upcoming = start
        """The number the next name gets."""

    def next(self) -> str:
        """A fresh base name, e.g. ``qj7``."""
        self.upcoming += 1
        return f"qj{self.upcoming - 1}"


async def add_file(
    qmp: QmpClient, nodes: OpenNodes, name: str, real: Path, client_name: str, *, read_only: bool
) -> str:
    """Open ``real`` as a bare ``file`` node called ``name``."""
    nodes.names[name] = client_name
    nodes.names[str(real)] = client_name
    await qmp.execute(
        "blockdev-add",
        {"driver": "file", "node-name": name, "filename": str(real), "read-only": read_only},
    )
    nodes.added.append(name)
    return name


async def open_image(
    qmp: QmpClient,
    nodes: OpenNodes,
    name: str,
    layer: Layer,
    *,
    read_only: bool,
    backing: str | None = None,
) -> str:
    """Open one layer as ``name-f`` + ``name``; qcow2 gets ``backing`` (None: none)."""
    file_node = await add_file(
        qmp, nodes, f"{name}-f", layer.path.real, layer.name, read_only=read_only
    )
    nodes.names[name] = layer.name
    options: dict[str, Any] = {
        "driver": layer.format,
        "node-name": name,
        "file": file_node,
        "read-only": read_only,
    }
    if layer.format == "qcow2":
        options["backing"] = backing
    await qmp.execute("blockdev-add", options)
    nodes.added.append(name)
    return name


async def open_chain(
    qmp: QmpClient,
    nodes: OpenNodes,
    names: NodeNames,
    chain: Sequence[Layer],
    *,
    read_only: bool,
) -> list[str]:
    """Open ``chain`` (top first) bottom-up; return the format node names, top first."""
    opened: list[str] = []
    below: str | None = None
    for layer in reversed(chain):
        below = await open_image(
            qmp, nodes, names.next(), layer, read_only=read_only, backing=below
        )
        opened.append(below)
    return opened[::-1]

"""Compile a tree of .proto files into Python modules and typed stubs.

Runs grpcio-tools' bundled protoc with four outputs, all written next to
the .proto files (the tree is also the import root, so ``qapi_jobs/v1/x.proto``
becomes the module ``qapi_jobs.v1.x_pb2``):

* ``--python_out``: ``x_pb2.py`` (messages);
* ``--grpc_python_out``: ``x_pb2_grpc.py`` (stubs and servicers);
* ``--mypy_out`` (mypy-protobuf): ``x_pb2.pyi``;
* ``--mypy_grpc_out`` (mypy-protobuf): ``x_pb2_grpc.pyi``, typed sync and
  async stubs;
* ``--descriptor_set_out``: the descriptors from which
  :mod:`qapi_jobs.codegen.reexports` writes each package's ``__init__.py``.

Files under ``google/`` are skipped: vendored Google protos already have
their Python modules in installed packages (protobuf, googleapis-common-protos).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from google.protobuf.descriptor_pb2 import FileDescriptorSet

from qapi_jobs.codegen.backends import BackendError
from qapi_jobs.codegen.reexports import write_reexports

_PLUGINS = ("protoc-gen-mypy", "protoc-gen-mypy_grpc")


def proto_files(root: Path) -> list[str]:
    """The .proto files to compile under ``root``, as sorted relative paths."""
    found = []
    for path in root.rglob("*.proto"):
        relative = path.relative_to(root)
        if relative.parts[0] != "google":
            found.append(relative.as_posix())
    return sorted(found)


def _plugin(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise BackendError(f"{name} not found: install mypy-protobuf (pip install mypy-protobuf)")
    return found


def _well_known_include() -> str:
    return str(resources.files("grpc_tools") / "_proto")


def protoc_command(root: Path, files: list[str], descriptor_set: Path) -> list[str]:
    """The protoc command line (to run with ``root`` as working directory)."""
    mypy, mypy_grpc = (_plugin(name) for name in _PLUGINS)
    return [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I.",
        f"-I{_well_known_include()}",
        "--python_out=.",
        "--grpc_python_out=.",
        f"--plugin=protoc-gen-mypy={mypy}",
        "--mypy_out=.",
        f"--plugin=protoc-gen-mypy_grpc={mypy_grpc}",
        "--mypy_grpc_out=.",
        f"--descriptor_set_out={descriptor_set}",
        *files,
    ]


def compile_python(root: Path) -> list[str]:
    """Compile every .proto under ``root`` in place, with a re-exporting
    ``__init__.py`` per package; returns the files compiled.

    Raises :class:`BackendError` with protoc's messages when it fails.
    """
    files = proto_files(root)
    if not files:
        raise BackendError(f"{root}: no .proto files to compile")
    with tempfile.TemporaryDirectory() as scratch:
        descriptor_set = Path(scratch) / "descriptors.binpb"
        result = subprocess.run(
            protoc_command(root, files, descriptor_set),
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackendError(f"protoc failed:\n{result.stderr.strip()}")
        descriptors = FileDescriptorSet.FromString(descriptor_set.read_bytes())
    write_reexports(root, descriptors)
    return files

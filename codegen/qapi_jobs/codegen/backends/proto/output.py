"""Writing the backend's files, and removing the ones it no longer makes.

Only files that carry the generator's mark are ever removed, so hand-written
protos in the same directory (such as ``watch.proto``) are safe; with a
stale ``x.proto`` go its Python companions (``x_pb2.py`` ...), which protoc
would otherwise leave behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from qapi_jobs.codegen.backends.proto.layout import GENERATED_MARK

PYTHON_COMPANIONS = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def is_generated(path: Path) -> bool:
    """Whether a .proto file was written by this backend."""
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(f"// {GENERATED_MARK}")
    except (OSError, UnicodeDecodeError):
        return False


def write_files(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` under ``out_dir`` (only those whose text changed) and
    delete generated .proto files in the same directories that are not in
    ``files``.  Returns the paths written or kept, sorted."""
    written: list[Path] = []
    directories: set[Path] = set()
    for relative, text in sorted(files.items()):
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        directories.add(path.parent)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    keep = set(written)
    for directory in sorted(directories):
        for stale in sorted(directory.glob("*.proto")):
            if stale not in keep and is_generated(stale):
                stale.unlink()
                for suffix in PYTHON_COMPANIONS:
                    stale.with_name(stale.stem + suffix).unlink(missing_ok=True)
    return written

"""Writing the generated package, and removing modules it no longer makes.

Only files that carry the generator's mark are removed, so anything written
by hand next to them survives.  A file whose text did not change is not
rewritten, which keeps timestamps (and build tools) quiet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from qapi_jobs.codegen.backends.client.render import GENERATED_MARK


def _is_generated(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(GENERATED_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def write_package(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` (name → text) into ``out_dir`` and delete stale
    generated modules there; returns the paths written or kept, sorted."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in sorted(files.items()):
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in sorted(out_dir.glob("*.py")):
        if stale not in written and _is_generated(stale):
            stale.unlink()
    return written

"""The translator's front end: schema files in, checked model out."""

from __future__ import annotations

from pathlib import Path

from qapi_jobs.codegen.checker import check
from qapi_jobs.codegen.loader import load
from qapi_jobs.codegen.model import Schema


def load_schema(path: str | Path) -> Schema:
    """Read the schema rooted at ``path`` (and all it includes) and check it.

    Positions in errors and in the model use ``path`` as given, joined with
    include paths, so a relative root gives paths relative to the current
    directory.  Raises :class:`~qapi_jobs.codegen.errors.SchemaError` at the
    first problem found.
    """
    return check(load(path))

"""The translator's front end: schema files in, checked model out."""

from __future__ import annotations

from pathlib import Path

from qapi_jobs.codegen.checker import check
from qapi_jobs.codegen.loader import load
from qapi_jobs.codegen.model import Schema
from qapi_jobs.codegen.releases import NewerRules


def load_schema(path: str | Path, *, newer_rules: NewerRules = "auto") -> Schema:
    """Read the schema rooted at ``path`` (and all it includes) and check it.

    Positions in errors and in the model use ``path`` as given, joined with
    include paths, so a relative root gives paths relative to the current
    directory.  Raises :class:`~qapi_jobs.codegen.errors.SchemaError` at the
    first problem found.  ``newer_rules`` selects how the rules QEMU added
    after 7.2 apply (see :mod:`~qapi_jobs.codegen.releases`); the warnings
    are in :attr:`Schema.warnings`.
    """
    return check(load(path), newer_rules)

"""Backends: each turns a checked :class:`~qapi_jobs.codegen.model.Schema`
into files of one kind.

A backend package exposes ``SUBCOMMANDS`` (a tuple of
:class:`qapi_jobs.codegen.cli.Subcommand`); the command line discovers them
by importing every subpackage of this package, so a new backend needs no
change anywhere else.
"""

from __future__ import annotations

from qapi_jobs.codegen.model import SourceInfo


class BackendError(Exception):
    """A schema the backend cannot translate, or a failing tool it runs.

    ``str(err)`` reads ``FILE:LINE:COL: message`` when the problem has a
    place in the schema, like the front end's errors.
    """

    def __init__(self, message: str, info: SourceInfo | None = None) -> None:
        super().__init__(message)
        self.info = info
        self.message = message

    def __str__(self) -> str:
        return f"{self.info}: {self.message}" if self.info else self.message

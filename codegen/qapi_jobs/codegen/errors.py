"""The one error type the translator's front end raises."""

from __future__ import annotations

from qapi_jobs.codegen.model import SourceInfo


class SchemaError(Exception):
    """A problem in a schema, located at ``info``.

    ``str(err)`` reads ``FILE:LINE:COL: message`` so that editors and CI logs
    can jump straight to the offending spot.
    """

    def __init__(self, info: SourceInfo, message: str) -> None:
        super().__init__(f"{info}: {message}")
        self.info = info
        self.message = message

    def __str__(self) -> str:
        return f"{self.info}: {self.message}"

"""The one error type the translator's front end raises."""

from __future__ import annotations

from qapi_jobs.codegen.model import SourceInfo


class SchemaError(Exception):
    """A problem in a schema, located at ``info``.

    ``str(err)`` ends with the line ``FILE:LINE:COL: message`` (``line``), so
    that editors and CI logs can jump straight to the offending spot.  Like
    QEMU, it is preceded by context lines when there is context: one
    ``In file included from a.json:3:`` line per include level (outermost
    first) and ``sub.json: In struct 'Foo':`` for the definition the
    problem is in.
    """

    def __init__(self, info: SourceInfo, message: str) -> None:
        super().__init__(f"{info}: {message}")
        self.info = info
        self.message = message
        # Include directives leading to info.file, outermost first.
        self.included_from: tuple[SourceInfo, ...] = ()
        # (kind, name) of the definition the problem is in, as written.
        self.definition: tuple[str, str] | None = None

    @property
    def line(self) -> str:
        """``FILE:LINE:COL: message``, without context."""
        return f"{self.info}: {self.message}"

    def in_definition(self, kind: str, name: str) -> SchemaError:
        """Record the definition the problem is in, unless one is recorded."""
        if self.definition is None:
            self.definition = (kind, name)
        return self

    def context(self) -> list[str]:
        """QEMU's context lines that go before :attr:`line`."""
        lines = [f"In file included from {inc.file}:{inc.line}:" for inc in self.included_from]
        if self.definition is not None:
            kind, name = self.definition
            lines.append(f"{self.info.file}: In {kind} '{name}':")
        return lines

    def __str__(self) -> str:
        return "\n".join([*self.context(), self.line])

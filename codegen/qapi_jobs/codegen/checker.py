"""Turns loaded expressions into a checked :class:`Schema`.

Three passes, each reporting its first problem as a SchemaError:
structure (each expression alone), semantics (definitions against each
other) and documentation (doc blocks against definitions).
"""

from __future__ import annotations

from qapi_jobs.codegen.doccheck import check_docs
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.loader import LoadedSchema
from qapi_jobs.codegen.model import Schema
from qapi_jobs.codegen.semantics import SemanticPass
from qapi_jobs.codegen.structure import StructurePass
from qapi_jobs.codegen.table import DefinitionTable


def check(loaded: LoadedSchema) -> Schema:
    """Check everything read from a schema's files and build the model."""
    table = DefinitionTable(loaded.pragmas)
    try:
        StructurePass(table).run(loaded.exprs)
        SemanticPass(table).run()
        check_docs(table)
    except SchemaError as error:
        error.included_from = loaded.include_chain(error.info.file)
        raise
    return Schema(
        definitions=tuple(table.ordered()),
        pragmas=loaded.pragmas,
        modules=tuple(loaded.modules),
    )

"""Turns loaded expressions into a checked :class:`Schema`.

Three passes, each reporting its first problem as a SchemaError:
structure (each expression alone), semantics (definitions against each
other) and documentation (doc blocks against definitions).  Rules that
changed between QEMU releases apply as :mod:`releases` decides.
"""

from __future__ import annotations

from qapi_jobs.codegen.doccheck import check_docs
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.loader import LoadedSchema
from qapi_jobs.codegen.model import Schema
from qapi_jobs.codegen.releases import NewerRules, rules_for
from qapi_jobs.codegen.semantics import SemanticPass
from qapi_jobs.codegen.structure import StructurePass
from qapi_jobs.codegen.table import DefinitionTable


def check(loaded: LoadedSchema, newer_rules: NewerRules = "auto") -> Schema:
    """Check everything read from a schema's files and build the model.

    ``newer_rules`` says how rules added after QEMU 7.2 apply: ``auto`` by
    the schema's pragmas, or always as errors or warnings (see
    :mod:`~qapi_jobs.codegen.releases`).  Warnings end up in
    :attr:`Schema.warnings`.
    """
    exprs = [expr.obj for expr in loaded.exprs]
    rules = rules_for(loaded.pragma_names, exprs, newer_rules)
    table = DefinitionTable(loaded.pragmas, rules)
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
        warnings=tuple(rules.warnings or ()),
    )

"""Rules that changed between QEMU releases, and which of them a schema gets.

QEMU's schema rules grew over the releases, so a schema that one release
accepts may be refused by a later one.  The translator reads schemas of
every release, so it decides per schema:

* **Newer rules** (added after QEMU 7.2, the release of Debian 12): every
  member, argument and enum value documented under ``doc-required``;
  conditional command arguments only with ``'boxed': true``; no
  ``Returns:`` section on a command that returns nothing; no tagged section
  but ``Since:`` and ``TODO:`` after a free paragraph that follows another
  tagged section.  They are errors
  for a schema that declares pragma ``documentation-exceptions``: that
  pragma came with the documentation rule (QEMU 9.1), so such a schema was
  written for a QEMU that enforces them all.  Elsewhere they are warnings.
  ``--newer-rules error`` or ``warn`` overrides the choice.
* **Legacy forms** (QEMU 5.x and earlier): ``'if'`` given as a list and
  doc continuation lines less indented than the line before.  They are
  accepted only in a schema that shows its age through another construct
  later releases refuse outright, namely the pre-6.0 pragma names
  (``returns-whitelist``, ``name-case-whitelist``) or C preprocessor
  conditions (``defined(CONFIG_FOO)``); every other schema gets today's
  rule, as QEMU 7.2 and later releases apply it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import SchemaWarning
from qapi_jobs.codegen.syntax import Arr, Obj, Str, Value

NewerRules = Literal["auto", "error", "warn"]
NEWER_RULES_CHOICES: tuple[NewerRules, ...] = ("auto", "error", "warn")

_DECLARES_NEWER = "documentation-exceptions"
_LEGACY_PRAGMAS = frozenset({"returns-whitelist", "name-case-whitelist"})


@dataclass
class Rules:
    """Which release-dependent rules apply to one schema, and its warnings."""

    newer_as_errors: bool = True
    legacy: bool = False
    warnings: list[SchemaWarning] | None = None

    def newer(self, error: SchemaError) -> None:
        """Apply a newer rule that ``error`` reports: raise it or warn."""
        if self.newer_as_errors:
            raise error
        if self.warnings is not None:
            self.warnings.append(SchemaWarning(error.info, error.message))


def rules_for(
    pragma_names: Iterable[str], exprs: Iterable[Obj], newer: NewerRules = "auto"
) -> Rules:
    """The rules for a schema with these pragmas and definition expressions."""
    names = set(pragma_names)
    as_errors = _DECLARES_NEWER in names if newer == "auto" else newer == "error"
    legacy = bool(names & _LEGACY_PRAGMAS) or any(_has_preprocessor_condition(e) for e in exprs)
    return Rules(newer_as_errors=as_errors, legacy=legacy, warnings=[])


def refuse_list_conditions(expr: Obj) -> None:
    """Refuse an ``'if'`` given as a list anywhere in ``expr`` (today's rule)."""
    found = _list_condition(expr)
    if found is not None:
        raise SchemaError(
            found.info,
            "'if' condition must be a string or an object, not a list (the form of "
            "QEMU 6.1 and earlier); write {'all': [...]} for conditions that must all hold",
        )


def _list_condition(value: Value) -> Arr | None:
    if isinstance(value, Obj):
        for key, item in value.entries:
            if key.value == "if" and isinstance(item, Arr):
                return item
            found = _list_condition(item)
            if found is not None:
                return found
    elif isinstance(value, Arr):
        for item in value.items:
            found = _list_condition(item)
            if found is not None:
                return found
    return None


def is_preprocessor_condition(text: str) -> bool:
    """Whether an ``'if'`` string is a C preprocessor expression (before QEMU 6.2)."""
    return "defined(" in text.replace(" ", "")


def _has_preprocessor_condition(value: Value) -> bool:
    if isinstance(value, Obj):
        for key, item in value.entries:
            if key.value == "if" and _condition_strings_legacy(item):
                return True
            if _has_preprocessor_condition(item):
                return True
    elif isinstance(value, Arr):
        return any(_has_preprocessor_condition(item) for item in value.items)
    return False


def _condition_strings_legacy(value: Value) -> bool:
    if isinstance(value, Str):
        return is_preprocessor_condition(value.value)
    if isinstance(value, Arr):
        return any(_condition_strings_legacy(item) for item in value.items)
    return False

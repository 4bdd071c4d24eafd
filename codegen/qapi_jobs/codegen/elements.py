"""Reading the elements definitions are made of: features and members."""

from __future__ import annotations

from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import Condition, Feature, Member, SourceInfo
from qapi_jobs.codegen.qapi_names import c_name, check_lower
from qapi_jobs.codegen.shapes import (
    check_keys,
    expect_str,
    optional_condition,
    required,
    type_ref,
)
from qapi_jobs.codegen.syntax import Arr, Obj, Str, Value, describe
from qapi_jobs.codegen.table import DefinitionTable

SPECIAL_FEATURES = ("deprecated", "unstable")
MAX_FEATURES = 64


class ElementReader:
    """Checks feature lists and member objects, counting feature names
    schema-wide (QEMU keeps them in a 64-bit mask)."""

    def __init__(self, table: DefinitionTable) -> None:
        self.table = table
        self.feature_names: dict[str, None] = dict.fromkeys(SPECIAL_FEATURES)

    # --- features --------------------------------------------------------------

    def features(
        self, value: Value | None, what: str, *, on_type: bool = False
    ) -> tuple[Feature, ...]:
        """Check a ``features`` list and build its features."""
        if value is None:
            return ()
        if not isinstance(value, Arr):
            raise SchemaError(
                value.info, f"'features' of {what} must be an array, not {describe(value)}"
            )
        result: list[Feature] = []
        seen: dict[str, Feature] = {}
        for item in value.items:
            cond: Condition | None = None
            if isinstance(item, Obj):
                check_keys(item, f"feature of {what}", ("name",), ("if",))
                name_node = expect_str(required(item, "name"), f"'name' of a feature of {what}")
                fwhat = f"feature '{name_node.value}' of {what}"
                cond = optional_condition(item, fwhat)
            elif isinstance(item, Str):
                name_node = item
            else:
                raise SchemaError(
                    item.info,
                    f"a feature of {what} must be a name string or an object "
                    f"{{'name': ..., 'if': ...}}, not {describe(item)}",
                )
            fname = name_node.value
            fwhat = f"feature '{fname}' of {what}"
            check_lower(fname, name_node.info, fwhat)
            previous = seen.get(c_name(fname))
            if previous is not None:
                raise SchemaError(name_node.info, f"{fwhat} is listed twice; remove the duplicate")
            if on_type and fname in SPECIAL_FEATURES:
                raise SchemaError(
                    name_node.info,
                    f"feature '{fname}' is not supported on types ({what}); put it on the "
                    "members, enum values, commands or events instead",
                )
            self._register_feature(fname, name_node.info)
            feature = Feature(fname, cond, name_node.info)
            seen[c_name(fname)] = feature
            result.append(feature)
        return tuple(result)

    def _register_feature(self, name: str, info: SourceInfo) -> None:
        if name in self.feature_names:
            return
        self.feature_names[name] = None
        if len(self.feature_names) > MAX_FEATURES:
            raise SchemaError(
                info,
                f"feature '{name}' is the schema's {len(self.feature_names)}th distinct feature "
                f"name; at most {MAX_FEATURES} are allowed (counting the predefined "
                "'deprecated' and 'unstable'); reuse an existing feature name",
            )

    # --- members ---------------------------------------------------------------

    def members(
        self, value: Value, key: str, role: str, of: str, *, permissive: bool, pragma_hint: bool
    ) -> tuple[Member, ...]:
        """Check a MEMBERS object (struct data, inline base or arguments)."""
        if not isinstance(value, Obj):
            raise SchemaError(
                value.info,
                f"'{key}' of {of} must be an object mapping {role} names to types, "
                f"not {describe(value)}",
            )
        result: list[Member] = []
        seen: dict[str, Member] = {}
        for key_node, member_value in value.entries:
            raw = key_node.value
            optional = raw.startswith("*")
            name = raw[1:] if optional else raw
            what = f"{role} '{name}' of {of}"
            check_lower(
                name,
                key_node.info,
                what,
                permit_upper=permissive,
                permit_underscore=permissive,
                exception_pragma="member-name-exceptions" if pragma_hint else "",
            )
            cname = c_name(name)
            if cname == "u" or cname.startswith("has_"):
                raise SchemaError(
                    key_node.info,
                    f"{what} uses a reserved name ('u' and names starting with 'has-' or "
                    "'has_' are reserved for generated code); rename it",
                )
            previous = seen.get(cname)
            if previous is not None:
                raise SchemaError(
                    key_node.info,
                    f"{what} clashes with {role} '{previous.name}' (both are '{cname}' "
                    "in C); rename one of them",
                )
            type_value = member_value
            cond: Condition | None = None
            features: tuple[Feature, ...] = ()
            if isinstance(member_value, Obj):
                check_keys(member_value, what, ("type",), ("if", "features"))
                type_value = required(member_value, "type")
                cond = optional_condition(member_value, what)
                features = self.features(member_value.get("features"), what)
            ref, ref_info = type_ref(type_value, what, allow_array=True)
            member = Member(name, ref, optional, cond, features, key_node.info)
            self.table.note_ref(member, ref_info)
            seen[cname] = member
            result.append(member)
        return tuple(result)

"""Files and imports (qapi-to-proto.md, "Files"): one file per module, import cycles merged,
nothing for empty modules, stale generated files removed."""

from __future__ import annotations

import re
from pathlib import Path

from qapi_jobs.codegen.backends.proto import generate
from qapi_jobs.codegen.backends.proto.context import Settings
from qapi_jobs.codegen.backends.proto.translate import translate
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.model import Schema
from qapi_jobs.codegen.protoc import compile_python

from .models import command, enum, event, schema, struct
from .tools import buf_lint

PACKAGE = "layout.v1"
SETTINGS = Settings(PACKAGE, "LayoutService")
MODULES = ("root.json", "a.json", "b.json", "c.json", "service.json", "cmds.json", "sub/d-e.json")


def layout_schema(*, with_c: bool = True) -> Schema:
    parts = [
        # a and b refer to each other: one file.
        struct("A", {"b": "B"}, module="a.json"),
        struct("B", {"a": "A", "*tags": "[str]"}, module="b.json"),
        # service.json would be service.proto, which is taken.
        enum("Svc", ["x"], module="service.json"),
        # Only commands: no file of its own.
        *command("do-it", {"a": "A"}, returns="[Svc]", module="cmds.json"),
        *event("DONE", {"d": "D"}, module="sub/d-e.json"),
        enum("D", ["y"], module="sub/d-e.json"),
    ]
    if with_c:
        parts.append(struct("C", {"a": "A", "*list": "[A]"}, module="c.json"))
    return schema(*parts, modules=MODULES)


def imports(text: str) -> list[str]:
    return re.findall(r'^import "([^"]+)";', text, re.M)


def test_files_per_module() -> None:
    files = translate(layout_schema(), SETTINGS, Lock())
    assert sorted(files) == [
        "layout/v1/a.proto",
        "layout/v1/builtins.proto",
        "layout/v1/c.proto",
        "layout/v1/service.proto",
        "layout/v1/service_2.proto",
        "layout/v1/sub_d_e.proto",
        "qapi_jobs/qapi/v1/options.proto",
    ]
    merged = files["layout/v1/a.proto"]
    assert "message A {" in merged and "message B {" in merged
    assert 'option (qapi_jobs.qapi.v1.file) = {module: "a.json, b.json"};' in merged
    assert "from a.json, b.json. DO NOT EDIT." in merged.splitlines()[0]
    # The wrapper of [A] lives with A; the wrapper of [str] in builtins.
    assert "message AList {" in merged
    assert "message StrList {" in files["layout/v1/builtins.proto"]
    assert "message DoneEvent {" in files["layout/v1/sub_d_e.proto"]


def test_imports_are_exactly_the_used_files() -> None:
    files = translate(layout_schema(), SETTINGS, Lock())
    assert imports(files["layout/v1/a.proto"]) == [
        "layout/v1/builtins.proto",
        "qapi_jobs/qapi/v1/options.proto",
    ]
    assert imports(files["layout/v1/c.proto"]) == [
        "layout/v1/a.proto",
        "qapi_jobs/qapi/v1/options.proto",
    ]
    assert imports(files["layout/v1/service.proto"]) == [
        "google/protobuf/timestamp.proto",
        "layout/v1/a.proto",
        "layout/v1/service_2.proto",
        "layout/v1/sub_d_e.proto",
        "qapi_jobs/qapi/v1/options.proto",
    ]


def test_layout_compiles_and_lints(tmp_path: Path) -> None:
    generate(layout_schema(), tmp_path, package=PACKAGE, service="LayoutService")
    assert buf_lint(tmp_path) == ""
    compile_python(tmp_path)
    assert (tmp_path / "layout/v1/a_pb2.pyi").exists()
    assert (tmp_path / "layout/v1/service_pb2_grpc.pyi").exists()


def test_no_events_no_stream_and_no_builtins() -> None:
    files = translate(schema(struct("S", {"a": "int"})), SETTINGS, Lock())
    assert "layout/v1/builtins.proto" not in files
    service = files["layout/v1/service.proto"]
    assert "StreamEvents" not in service
    assert "message Event" not in service


def test_stale_generated_files_are_removed(tmp_path: Path) -> None:
    generate(layout_schema(), tmp_path, package=PACKAGE, service="LayoutService")
    compile_python(tmp_path)
    package_dir = tmp_path / "layout/v1"
    hand_written = package_dir / "extra.proto"
    hand_written.write_text('syntax = "proto3";\npackage layout.v1;\n', encoding="utf-8")
    generate(layout_schema(with_c=False), tmp_path, package=PACKAGE, service="LayoutService")
    remaining = sorted(p.name for p in package_dir.iterdir() if p.name.startswith(("c.", "c_")))
    assert remaining == []
    assert hand_written.exists()
    assert (package_dir / "a_pb2.py").exists()


def test_lock_lives_beside_the_package(tmp_path: Path) -> None:
    generate(layout_schema(), tmp_path, package=PACKAGE, service="LayoutService")
    assert (tmp_path / "layout/v1/qapi-proto.lock.json").exists()
    custom = tmp_path / "elsewhere.json"
    generate(layout_schema(), tmp_path / "out2", package=PACKAGE, lock_path=custom)
    assert custom.exists()
    assert not (tmp_path / "out2/layout/v1/qapi-proto.lock.json").exists()


def test_look_alike_module_names_get_distinct_files() -> None:
    model = schema(
        struct("First", {"a": "int"}, module="x-y.json"),
        struct("Second", {"b": "int"}, module="x_y.json"),
        modules=("root.json", "x-y.json", "x_y.json"),
    )
    files = translate(model, SETTINGS, Lock())
    assert "message First {" in files["layout/v1/x_y.proto"]
    assert "message Second {" in files["layout/v1/x_y_2.proto"]

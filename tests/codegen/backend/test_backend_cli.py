"""The command line: subcommands, exit status, errors on stderr."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from qapi_jobs.codegen.cli import Subcommand, build_parser, discover, main
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.frontend import load_schema

SCHEMA = """\
##
# @Colour:
#
# A colour.
#
# @red: red
#
# Since: 1.0
##
{ 'enum': 'Colour', 'data': [ 'red' ] }

##
# @paint:
#
# Paint.
#
# @colour: which
#
# Since: 1.0
##
{ 'command': 'paint', 'data': { 'colour': 'Colour' } }
"""

BAD = "{ 'struct': 'Foo',\n  'data': { 'a': 'Nope' } }\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_backends_register_their_subcommands() -> None:
    names = [command.name for command in discover()]
    assert "proto" in names and "python" in names
    assert names == sorted(names)


def test_parser_takes_any_registered_subcommand() -> None:
    seen: list[str] = []

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("word")

    extra = Subcommand("echo", "say a word", configure, lambda args: seen.append(args.word))
    args = build_parser([extra]).parse_args(["echo", "hi"])
    args.run(args)
    assert seen == ["hi"]


def test_proto_then_python(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = write(tmp_path / "schema.json", SCHEMA)
    out = tmp_path / "out"
    argv = [
        "proto",
        str(schema),
        "--out",
        str(out),
        "--package",
        "cli.v1",
        "--service",
        "CliService",
    ]
    assert main(argv) == 0
    assert main(["python", str(out)]) == 0
    assert capsys.readouterr().err == ""
    package = out / "cli/v1"
    assert sorted(p.name for p in package.iterdir()) == [
        "__init__.py",
        "qapi-proto.lock.json",
        "schema.proto",
        "schema_pb2.py",
        "schema_pb2.pyi",
        "schema_pb2_grpc.py",
        "schema_pb2_grpc.pyi",
        "service.proto",
        "service_pb2.py",
        "service_pb2.pyi",
        "service_pb2_grpc.py",
        "service_pb2_grpc.pyi",
    ]
    assert (out / "qapi_jobs/qapi/v1/options_pb2.pyi").exists()
    reexports = (package / "__init__.py").read_text()
    assert "from .service_pb2_grpc import (\n    CliServiceServicer," in reexports
    assert '"CliServiceStub",' in reexports


def test_proto_with_python_flag_and_custom_lock(tmp_path: Path) -> None:
    schema = write(tmp_path / "schema.json", SCHEMA)
    lock = tmp_path / "my.lock.json"
    argv = ["proto", str(schema), "--out", str(tmp_path / "o"), "--lock", str(lock), "--python"]
    assert main(argv) == 0
    assert lock.exists()
    assert (tmp_path / "o/qapi_jobs/v1/service_pb2_grpc.py").exists()


def test_schema_error_on_stderr_with_qemus_context_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "bad.json", BAD)
    with pytest.raises(SchemaError) as caught:
        load_schema(bad)
    assert main(["proto", str(bad), "--out", str(tmp_path / "o")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == str(caught.value).splitlines()
    assert lines[0] == f"{bad}: In struct 'Foo':"
    assert lines[1] == caught.value.line
    assert lines[1].startswith(f"{bad}:2:")
    assert not (tmp_path / "o").exists()


def test_backend_error_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = write(tmp_path / "schema.json", SCHEMA)
    assert main(["proto", str(schema), "--out", str(tmp_path), "--package", "Bad"]) == 1
    assert "package 'Bad'" in capsys.readouterr().err.splitlines()[0]
    assert main(["python", str(tmp_path / "nothing")]) == 1
    assert "no .proto files" in capsys.readouterr().err


def test_protoc_errors_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "broken.proto", 'syntax = "proto3";\nmessage {\n')
    assert main(["python", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("protoc failed:")
    assert "broken.proto" in err


def test_module_entry_point(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", BAD)
    result = subprocess.run(
        [sys.executable, "-m", "qapi_jobs.codegen", "proto", str(bad), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[1].startswith(f"{bad}:2:")
    usage = subprocess.run(
        [sys.executable, "-m", "qapi_jobs.codegen"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2

"""Running the real tools on generated trees: protoc, buf, Python, mypy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
QEMU_PACKAGE = "qemu.qmp.v1"
BUF_YAML = """version: v2
modules:
  - path: .
lint:
  use:
    - STANDARD
"""


def buf_lint(root: Path, *, write_config: bool = True) -> str:
    """``buf lint`` over ``root``; returns its findings ('' when clean).

    With ``write_config`` a buf.yaml selecting STANDARD is written first."""
    if write_config:
        (root / "buf.yaml").write_text(BUF_YAML, encoding="utf-8")
    result = subprocess.run(
        [str(BIN / "buf"), "lint"], cwd=root, capture_output=True, text=True, check=False
    )
    return (result.stdout + result.stderr).strip()


def python_json(root: Path, script: str) -> Any:
    """Run ``script`` in a fresh interpreter that imports from ``root`` first,
    and parse the JSON it prints (each tree gets its own descriptor pool)."""
    env = dict(os.environ, PYTHONPATH=str(root))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# Prints every message, enum value, field and rpc of the package with its
# QAPI options, for the tests to compare against the model.
DESCRIBE = r"""
import importlib, json, pathlib, sys
from google.protobuf import json_format
from qapi_jobs.qapi.v1 import options_pb2 as o

package = sys.argv[1] if len(sys.argv) > 1 else PACKAGE
root = pathlib.Path(ROOT)
out = {"files": {}, "messages": {}, "enums": {}, "rpcs": {}}

def opts(descriptor, ext):
    msg = descriptor.GetOptions().Extensions[ext]
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)

for proto in sorted((root / package.replace(".", "/")).glob("*.proto")):
    module = importlib.import_module(f"{package}.{proto.stem}_pb2")
    importlib.import_module(f"{package}.{proto.stem}_pb2_grpc")
    fd = module.DESCRIPTOR
    out["files"][proto.name] = opts(fd, o.file)
    for m in fd.message_types_by_name.values():
        fields = {}
        for f in m.fields:
            fields[f.name] = {
                "number": f.number,
                "json_name": f.json_name,
                "oneof": f.containing_oneof.name if f.containing_oneof else None,
                "presence": f.has_presence,
                "repeated": f.is_repeated,
                "deprecated": f.GetOptions().deprecated,
                "qapi": opts(f, o.member),
            }
        out["messages"][m.name] = {
            "qapi": opts(m, o.type),
            "deprecated": m.GetOptions().deprecated,
            "fields": fields,
        }
    for e in fd.enum_types_by_name.values():
        out["enums"][e.name] = {
            "qapi": opts(e, o.enum),
            "values": {
                v.name: {
                    "number": v.number,
                    "deprecated": v.GetOptions().deprecated,
                    "qapi": opts(v, o.value),
                }
                for v in e.values
            },
        }
    for s in fd.services_by_name.values():
        for r in s.methods:
            out["rpcs"][r.name] = {
                "service": s.name,
                "input": r.input_type.name,
                "output": r.output_type.name,
                "streaming": r.server_streaming,
                "deprecated": r.GetOptions().deprecated,
                "qapi": opts(r, o.command),
            }
print(json.dumps(out))
"""


def describe(root: Path, package: str) -> Any:
    """Every element of ``package`` under ``root`` (compiled), with its options."""
    script = f"ROOT = {str(root)!r}\nPACKAGE = {package!r}\n" + DESCRIBE
    return python_json(root, script)

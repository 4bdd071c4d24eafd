"""Every message, enum and service of a proto package is importable from the package itself."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import qapi_jobs.qapi.v1
import qapi_jobs.v1


@pytest.mark.parametrize("package", [qapi_jobs.v1, qapi_jobs.qapi.v1], ids=lambda p: p.__name__)
def test_package_reexports_its_modules(package: ModuleType) -> None:
    path, name = package.__path__, package.__name__
    exported = set(package.__dict__["__all__"])
    expected: set[str] = set()
    for info in pkgutil.iter_modules(path):
        module = importlib.import_module(f"{name}.{info.name}")
        if info.name.endswith("_pb2"):
            descriptor = module.DESCRIPTOR
            expected |= set(descriptor.message_types_by_name) | set(descriptor.enum_types_by_name)
            for kind in (*descriptor.message_types_by_name, *descriptor.enum_types_by_name):
                assert getattr(package, kind) is getattr(module, kind)
        elif info.name.endswith("_pb2_grpc"):
            services = importlib.import_module(f"{name}.{info.name[: -len('_grpc')]}")
            for service in services.DESCRIPTOR.services_by_name:
                names = {f"{service}Stub", f"{service}Servicer", f"add_{service}Servicer_to_server"}
                expected |= names
                for each in names:
                    assert getattr(package, each) is getattr(module, each)
    assert exported == expected

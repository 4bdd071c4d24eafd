"""Where the repository's files are, for tests that run its tools and scripts."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root directory."""

DATA = REPO / "tests" / "data"
"""Vendored test inputs (see tests/data/README.md for sources and licences)."""

QEMU_SCHEMA = DATA / "qemu-10.2.50" / "qapi" / "qapi-schema.json"
"""QEMU's whole QAPI schema, input of the translator's acceptance tests."""

"""Where the repository's files are, for tests that run its tools and scripts."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root directory."""

QEMU_SCHEMA = Path("/work/shared/qemu-qapi/qapi-schema.json")
"""QEMU's whole QAPI schema, input of the translator's acceptance tests."""

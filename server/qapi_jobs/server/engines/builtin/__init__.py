"""The builtin engine: pure-Python jobs on raw image files in a data directory."""

from qapi_jobs.server.engines.builtin.engine import BuiltinEngine

__all__ = ["BuiltinEngine"]

"""Engines: what actually does the work of a job.

:mod:`.base` defines the interface the rest of the server uses;
:mod:`.schema` reads what the schema says about job-creating commands;
:mod:`.builtin` is the pure-Python engine for raw image files.
"""

from qapi_jobs.server.engines.base import Engine
from qapi_jobs.server.engines.schema import CommandSchema, job_commands

__all__ = ["CommandSchema", "Engine", "job_commands"]

"""Engines: what actually does the work of a job.

:mod:`.base` defines the interface the rest of the server uses;
:mod:`.builtin` is the pure-Python engine for raw image files.
"""

from qapi_jobs.server.engines.base import JOB_COMMANDS, Engine, JobPlan

__all__ = ["JOB_COMMANDS", "Engine", "JobPlan"]

"""Tests of the job manager (qapi_jobs.server.jobs)."""

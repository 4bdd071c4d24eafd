"""Tests of the watch streams (qapi_jobs.server.grpc.watch)."""

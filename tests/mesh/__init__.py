"""Observability and the mesh: metrics, traces, a real gRPC proxy, connection age."""

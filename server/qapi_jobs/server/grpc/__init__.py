"""The gRPC adapter: a thin layer that maps RPCs onto the job manager."""

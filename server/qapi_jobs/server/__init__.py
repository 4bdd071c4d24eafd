"""The qapi-jobs server: job manager, engines and the gRPC adapter."""

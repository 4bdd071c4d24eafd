"""The ``qapi-jobs`` command line (entry point: :func:`main.main`)."""

"""The one bound on every wait of the tests."""

GUARD_TIMEOUT = 30.0
"""Upper bound on any wait, so that a broken server fails a test instead of hanging it."""

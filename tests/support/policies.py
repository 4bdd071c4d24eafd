"""Authorisation policy files for tests."""

from __future__ import annotations

import hashlib


def token_operator(name: str, token: str) -> str:
    """A policy's ``[[principal]]`` entry: ``name``, known by bearer ``token``, an operator."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f'[[principal]]\nname = "{name}"\ntoken_sha256 = "{digest}"\nroles = ["operator"]\n'

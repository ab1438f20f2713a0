"""Bearer tokens: random, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "ps_"


def new_token() -> str:
    """A fresh token with 256 bits of randomness."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are long and random, so a plain digest cannot be brute-forced; a slow password
    # hash would only cost every request time.
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_header(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header, if there is one."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()

"""Local bearer tokens (HS256 with AUTH_JWT_SECRET) for the embedded stack, the CLI and tests.

Verification lives with the gateway; minting lives here so the command line and the dev stack can sign
in without importing the gateway.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from vidpipe.settings import AuthSettings


def mint_local_token(settings: AuthSettings, subject: str, *, email: str | None = None) -> str:
    """A token for the embedded stack and tests, signed with AUTH_JWT_SECRET."""
    if settings.jwt_secret is None:
        raise ValueError("AUTH_JWT_SECRET is not set: local tokens cannot be minted")
    if not subject.strip():
        raise ValueError("a token needs a non-empty subject")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": settings.issuer,
        "aud": settings.audience,
        "iat": now,
        "exp": now + settings.token_ttl_s,
    }
    if email:
        claims["email"] = email
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")

"""Bearer JWT authentication: HS256 with a local secret, or RS256 keys from a production JWKS (e.g. Cognito).

Verification is PyJWT's; we only choose the key and the rules (issuer, audience, expiry all required). The
authenticated identity becomes a `users` row on first sight, so the rest of the gateway works with user ids.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe.settings import AuthSettings


@dataclass(frozen=True)
class CurrentUser:
    id: uuid.UUID
    subject: str


class TokenVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None
        if self._jwks is None and settings.jwt_secret is None:
            raise ValueError("set AUTH_JWKS_URL (production) or AUTH_JWT_SECRET (local) to verify tokens")

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or `jwt.InvalidTokenError` for anything not signed, current and ours."""
        if self._jwks is None:
            assert self._settings.jwt_secret is not None
            claims: dict[str, Any] = jwt.decode(
                token,
                self._settings.jwt_secret.get_secret_value(),
                algorithms=["HS256"],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                options={"require": ["exp", "iat", "sub"]},
            )
            return claims
        try:
            key: Any = self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as error:
            raise jwt.InvalidTokenError(f"no signing key for this token: {error}") from error
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=self._settings.issuer,
            options={"require": ["exp", "iat", "sub"], "verify_aud": False},
        )
        # Cognito puts the app client in `aud` on ID tokens but in `client_id` on access tokens.
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if self._settings.audience not in audiences:
            raise jwt.InvalidAudienceError("the token is for another audience")
        return claims


def mint_local_token(settings: AuthSettings, subject: str, *, email: str | None = None) -> str:
    """A token for the embedded stack and tests, signed with AUTH_JWT_SECRET."""
    if settings.jwt_secret is None:
        raise ValueError("AUTH_JWT_SECRET is not set: local tokens cannot be minted")
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


async def user_for_claims(pool: AsyncConnectionPool[Any], claims: dict[str, Any]) -> CurrentUser:
    async with pool.connection() as conn:
        row = await (await conn.execute(queries.get_user_by_subject, {"subject": claims["sub"]})).fetchone()
        if row is None:
            async with conn.transaction():
                row = await (
                    await conn.execute(
                        queries.upsert_user,
                        {
                            "subject": claims["sub"],
                            "email": claims.get("email"),
                            "display_name": claims.get("name"),
                        },
                    )
                ).fetchone()
        assert row is not None
        return CurrentUser(id=row["id"], subject=row["subject"])


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The request's bearer token, or "" when it has none."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token
    # EventSource cannot set headers: the SSE stream (and downloads) may pass the token as a query parameter.
    token_param: str = connection.query_params.get("access_token", "")
    return token_param


class JWTAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = bearer_token(connection)
        if not token:
            raise NotAuthorizedException(detail="missing bearer token")
        state = connection.app.state
        try:
            claims = state.verifier.verify(token)
        except jwt.InvalidTokenError as error:
            raise NotAuthorizedException(detail=f"invalid token: {error}") from error
        user = await user_for_claims(state.pool, claims)
        return AuthenticationResult(user=user, auth=claims)

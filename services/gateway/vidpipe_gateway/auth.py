"""Bearer JWT authentication: HS256 with a local secret, or RS256 keys from a production JWKS (e.g. Cognito).

Verification is PyJWT's; we only choose the key and the rules (issuer, audience, expiry all required). With
`VIDPIPE_ENVIRONMENT=production` only the JWKS counts: a locally minted HS256 token is refused even when
AUTH_JWT_SECRET happens to be set, and the gateway does not start without AUTH_JWKS_URL. The authenticated
identity becomes a `users` row on first sight, so the rest of the gateway works with user ids.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe.settings import AuthSettings
from vidpipe_gateway.inputs import strip_unsafe

log = structlog.get_logger("vidpipe.gateway")

# Routes a browser opens without being able to set a header: EventSource (the live status) and plain links
# to subtitle downloads. Everywhere else a token in the URL is ignored: URLs end up in logs and histories.
QUERY_TOKEN_ROUTES = re.compile(
    r"^/api/video/status/[0-9a-fA-F-]{36}/events$|^/api/media/[0-9a-fA-F-]{36}/transcript\.(srt|vtt|txt|docx|json)$"
)
# Route option: authentication is optional (anonymous readers see public media); a bad token is still a 401.
AUTH_OPTIONAL = "auth_optional"
MAX_SUBJECT = 255


@dataclass(frozen=True)
class CurrentUser:
    id: uuid.UUID
    subject: str


class TokenVerifier:
    def __init__(self, settings: AuthSettings, *, production: bool = False) -> None:
        self._settings = settings
        if production and not settings.jwks_url:
            raise ValueError(
                "VIDPIPE_ENVIRONMENT=production needs AUTH_JWKS_URL: locally minted (HS256) tokens are refused there"
            )
        if production and settings.jwt_secret is not None:
            log.warning("jwt_secret_ignored", reason="production verifies tokens against AUTH_JWKS_URL only")
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None
        if self._jwks is None and settings.jwt_secret is None:
            raise ValueError("set AUTH_JWKS_URL (production) or AUTH_JWT_SECRET (local) to verify tokens")

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or `jwt.InvalidTokenError` for anything not signed, current and ours."""
        claims = self._local(token) if self._jwks is None else self._remote(token, self._jwks)
        subject = claims.get("sub")
        # An empty or odd subject would become a shared, nameless account: refuse it like a bad signature.
        if (
            not isinstance(subject, str)
            or not subject.strip()
            or len(subject) > MAX_SUBJECT
            or strip_unsafe(subject) != subject
        ):
            raise jwt.InvalidTokenError("the token has no usable subject")
        return claims

    def _local(self, token: str) -> dict[str, Any]:
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

    def _remote(self, token: str, jwks: jwt.PyJWKClient) -> dict[str, Any]:
        try:
            key: Any = jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as error:
            raise jwt.InvalidTokenError(f"no signing key for this token: {error}") from error
        claims: dict[str, Any] = jwt.decode(
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
                            "email": _plain(claims.get("email")),
                            "display_name": _plain(claims.get("name")),
                        },
                    )
                ).fetchone()
        assert row is not None
        return CurrentUser(id=row["id"], subject=row["subject"])


def _plain(value: Any) -> str | None:
    return strip_unsafe(value)[:320] if isinstance(value, str) else None


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The request's bearer token, or "" when it has none."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token
    if QUERY_TOKEN_ROUTES.match(connection.scope["path"]):
        token_param: str = connection.query_params.get("access_token", "")
        return token_param
    return ""


class Authenticator:
    """Token → user, for the middleware: the verifier plus the pool the user rows live in."""

    def __init__(self, verifier: TokenVerifier, pool: Callable[[], AsyncConnectionPool[Any]]) -> None:
        self.verifier = verifier
        self._pool = pool

    async def user_for_token(self, token: str) -> CurrentUser:
        """The token's user; `jwt.InvalidTokenError` when the token is not good."""
        return await user_for_claims(self._pool(), self.verifier.verify(token))


class JWTAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, authenticator: Authenticator, exclude: list[str] | None = None) -> None:
        super().__init__(app, exclude=exclude)
        self._authenticator = authenticator

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = bearer_token(connection)
        if not token:
            if connection.route_handler.opt.get(AUTH_OPTIONAL):
                return AuthenticationResult(user=None, auth=None)
            raise NotAuthorizedException(detail="missing bearer token")
        try:
            user = await self._authenticator.user_for_token(token)
        except jwt.InvalidTokenError as error:
            raise NotAuthorizedException(detail=f"invalid token: {error}") from error
        return AuthenticationResult(user=user, auth=None)

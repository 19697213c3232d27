"""Finding 2: production mode refuses locally minted tokens and refuses to start without a JWKS."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
import yaml  # type: ignore[import-untyped]

from vidpipe.settings import AuthSettings, Settings
from vidpipe.tokens import mint_local_token
from vidpipe_gateway.app import create_app
from vidpipe_gateway.auth import TokenVerifier

SECRET = "a-production-box-with-a-leftover-secret-" + "z" * 16
REPO = Path(__file__).resolve().parents[2]


def test_production_without_a_jwks_refuses_to_start() -> None:
    settings = Settings(environment="production", auth=AuthSettings(jwt_secret=SECRET))
    with pytest.raises(ValueError, match="AUTH_JWKS_URL"):
        create_app(settings)


def test_production_refuses_hs256_tokens_even_with_a_secret_set() -> None:
    # The JWKS is never reached: the HS256 token is refused before any key lookup could succeed.
    auth = AuthSettings(jwt_secret=SECRET, jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(jwt.InvalidTokenError):
        TokenVerifier(auth, production=True).verify(mint_local_token(auth, "mallory"))


def test_local_mode_still_accepts_local_tokens() -> None:
    auth = AuthSettings(jwt_secret=SECRET)
    assert TokenVerifier(auth).verify(mint_local_token(auth, "alice"))["sub"] == "alice"


def test_compose_ships_no_default_secret() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    gateway_env = compose["services"]["gateway"]["environment"]
    secret = gateway_env["AUTH_JWT_SECRET"]
    # `${VAR:?message}` makes compose refuse to start until the operator sets one
    assert secret.startswith("${") and ":?" in secret, secret
    db_url = compose["x-app-env"]["DB_URL"]
    assert ":?" in db_url, db_url
    assert ":?" in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]


def test_a_token_without_a_subject_is_refused() -> None:
    auth = AuthSettings(jwt_secret=SECRET)
    now = int(time.time())
    for subject in ("", "   ", "bad\x00subject"):
        claims = {"sub": subject, "iss": auth.issuer, "aud": auth.audience, "iat": now, "exp": now + 60}
        with pytest.raises(jwt.InvalidTokenError):
            TokenVerifier(auth).verify(jwt.encode(claims, SECRET, algorithm="HS256"))

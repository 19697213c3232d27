"""Production identity providers: RS256 tokens verified against a JWKS served over HTTP (as Cognito does)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from vidpipe.settings import AuthSettings
from vidpipe_gateway.auth import TokenVerifier

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_test"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "rogue")}


@pytest.fixture(scope="module")
def jwks_url(keys: dict[str, Any]) -> Iterator[str]:
    public = {
        "keys": [
            {**json.loads(RSAAlgorithm.to_jwk(keys["k1"].public_key())), "kid": "k1", "use": "sig", "alg": "RS256"}
        ]
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(public).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def token(keys: dict[str, Any], kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "user-1", "iss": ISSUER, "iat": now, "exp": now + 300, **claims}
    return jwt.encode(body, keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def verifier(jwks_url: str) -> TokenVerifier:
    return TokenVerifier(AuthSettings(jwks_url=jwks_url, issuer=ISSUER, audience="app-client"))


def test_id_and_access_tokens_of_our_app_client_are_accepted(verifier: TokenVerifier, keys: dict[str, Any]) -> None:
    assert verifier.verify(token(keys, aud="app-client"))["sub"] == "user-1"
    assert verifier.verify(token(keys, client_id="app-client", token_use="access"))["sub"] == "user-1"


@pytest.mark.parametrize(
    ("kid", "claims"),
    [
        ("k1", {"aud": "another-client"}),
        ("k1", {"aud": "app-client", "iss": "https://evil.example"}),
        ("k1", {"aud": "app-client", "exp": int(time.time()) - 10}),
        ("rogue", {"aud": "app-client"}),  # signed by a key the JWKS does not hold
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "unknown-key"],
)
def test_tokens_that_are_not_ours_are_refused(
    verifier: TokenVerifier, keys: dict[str, Any], kid: str, claims: dict[str, Any]
) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        verifier.verify(token(keys, kid, **claims))


def test_an_hs256_token_is_refused_where_a_jwks_is_configured(verifier: TokenVerifier) -> None:
    forged = jwt.encode(
        {"sub": "x", "iss": ISSUER, "aud": "app-client", "iat": 0, "exp": 2**31}, "secret", algorithm="HS256"
    )
    with pytest.raises(jwt.InvalidTokenError):
        verifier.verify(forged)

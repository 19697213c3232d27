"""Finding 7 (headers): every UI page, API answer and error carries the security headers."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from ..gateway.conftest import auth


@pytest.mark.parametrize(
    ("path", "authorized"),
    [
        ("/", False),
        ("/videos", False),
        ("/static/app.js", False),
        ("/health", False),
        ("/api/me", True),
        ("/api/me", False),  # 401
        ("/api/no-such-route", True),  # 404 from the router, before any handler
    ],
)
async def test_security_headers_on_every_response(client: AsyncTestClient[Any], path: str, authorized: bool) -> None:
    response = await client.get(path, headers=auth("alice") if authorized else {})
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "object-src 'none'" in policy

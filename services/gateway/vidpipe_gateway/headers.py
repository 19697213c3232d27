"""Security headers on every response the gateway sends: UI pages, API answers, errors, 404s.

Applied as a `before_send` hook, which Litestar runs for every response, including those of routes that do
not exist and of errors raised before a handler ran (route middleware would miss those).

The UI's scripts are files under /static/, so `script-src 'self'`; it talks to storage directly (the upload
PUT, the video and the thumbnails), so storage's origin is allowed for `connect-src`, `media-src` and
`img-src`. Nothing may frame a page (clickjacking of Delete or Visibility). The OpenAPI viewers under /schema
load their scripts from a CDN and inline; they get a policy of their own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from vidpipe.settings import AWSSettings

_CDNS = "https://cdn.jsdelivr.net https://unpkg.com https://cdn.redoc.ly"


def storage_origin(aws: AWSSettings) -> str:
    """Where presigned URLs point: the S3 endpoint override (SeaweedFS, moto, LocalStack) or S3 itself."""
    if endpoint := aws.s3_endpoint():
        parts = urlsplit(endpoint)
        return f"{parts.scheme}://{parts.netloc}"
    return "https://*.amazonaws.com"


def security_headers(aws: AWSSettings) -> Any:
    storage = storage_origin(aws)
    ui_policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # The pages set a few style attributes (speaker colours); no script can be injected through CSS.
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob: {storage}",  # thumbnails and images pinned to transcripts: presigned GETs
            f"media-src 'self' blob: {storage}",
            f"connect-src 'self' {storage}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    docs_policy = "; ".join(
        [
            f"default-src 'self' {_CDNS}",
            f"script-src 'self' 'unsafe-inline' {_CDNS}",
            f"style-src 'self' 'unsafe-inline' {_CDNS} https://fonts.googleapis.com",
            "font-src 'self' https://fonts.gstatic.com data:",
            "img-src 'self' data: https:",
            f"worker-src 'self' blob: {_CDNS}",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    )
    fixed = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        message.setdefault("headers", [])
        headers = MutableScopeHeaders(message)
        for name, value in fixed.items():
            headers[name] = value
        path: str = scope.get("path", "")
        headers["Content-Security-Policy"] = docs_policy if path.startswith("/schema") else ui_policy

    return add_headers

"""The gateway's app factory: settings in, a Litestar app out (nothing is read at import time)."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from vidpipe.logging import configure_logging
from vidpipe.settings import Settings
from vidpipe_gateway.annotations import AnnotationController
from vidpipe_gateway.auth import CurrentUser, JWTAuthenticationMiddleware
from vidpipe_gateway.editor import EditorController
from vidpipe_gateway.errors import http_error_handler, internal_error_handler
from vidpipe_gateway.exports import ExportController
from vidpipe_gateway.headers import security_headers
from vidpipe_gateway.media import MediaController
from vidpipe_gateway.people import PeopleController
from vidpipe_gateway.redaction import install_log_redaction
from vidpipe_gateway.runtime import GatewayRuntime
from vidpipe_gateway.search import SearchController, search_page
from vidpipe_gateway.services import Backends
from vidpipe_gateway.videos import VideoController, status_events
from vidpipe_gateway.voices import VoicesController
from vidpipe_gateway.web import web_routes
from vidpipe_gateway.webhook_delivery import dispatcher_lifespan
from vidpipe_gateway.webhooks import WebhookController

# Health, the OpenAPI schema and the web UI's static shells are public; the shells fetch data with the token.
PUBLIC_PATHS = [
    "^/health$",
    "^/schema",
    "^/static/",
    "^/$",
    "^/videos(/[0-9a-fA-F-]+)?/?$",
    "^/webhooks/?$",
    "^/friends/?$",
    "^/voices/?$",
]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Downloads built on request (a DOCX fetches every note image from storage): limited like writes, so that
# repeating one, anonymously on a public video too, cannot tie up the gateway.
EXPORT_PATH = re.compile(r"^/api/media/[^/]+/transcript\.(txt|docx|json|srt|vtt)$")


@get("/health", tags=["ops"], summary="Liveness and database reachability")
async def health(backends: NamedDependency[Backends]) -> dict[str, str]:
    async with backends.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return {"status": "ok"}


def _rate_limit_key(request: Request[Any, Any, Any]) -> str:
    # Runs after authentication: a signed-in caller is limited as a user, wherever they connect from.
    user = request.scope.get("user")
    if isinstance(user, CurrentUser):
        return f"user:{user.id}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


def _is_rate_limited(request: Request[Any, Any, Any]) -> bool:
    return request.method in WRITE_METHODS or EXPORT_PATH.match(request.url.path) is not None


def create_app(settings: Settings) -> Litestar:
    runtime = GatewayRuntime(settings)  # refuses production settings without a JWKS before anything starts
    configure_logging(settings.log_level, settings.log_format)
    install_log_redaction()
    middleware: list[Any] = [
        DefineMiddleware(JWTAuthenticationMiddleware, authenticator=runtime.authenticator, exclude=PUBLIC_PATHS)
    ]
    if settings.gateway.write_requests_per_minute:
        middleware.append(
            RateLimitConfig(
                rate_limit=("minute", settings.gateway.write_requests_per_minute),
                identifier_for_request=_rate_limit_key,
                check_throttle_handler=_is_rate_limited,
            ).middleware
        )
    handlers: dict[Any, Any] = {HTTPException: http_error_handler, Exception: internal_error_handler}
    return Litestar(
        route_handlers=[
            health,
            VideoController,
            MediaController,
            EditorController,
            PeopleController,
            WebhookController,
            VoicesController,
            status_events,
            *web_routes(),
            AnnotationController,
            ExportController,
            SearchController,
            search_page,
        ],
        lifespan=[runtime.lifespan, dispatcher_lifespan(settings, runtime.pool)],
        dependencies=runtime.dependencies(),
        middleware=middleware,
        before_send=[security_headers(settings.aws)],
        exception_handlers=handlers,
        openapi_config=OpenAPIConfig(
            title="vidpipe",
            version="0.1.0",
            path="/schema",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )

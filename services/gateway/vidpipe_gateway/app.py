"""The gateway's app factory: settings in, a Litestar app out (nothing is read at import time)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from vidpipe.db.pool import open_pool
from vidpipe.logging import configure_logging
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.settings import Settings
from vidpipe.storage import open_storage
from vidpipe_gateway.auth import JWTAuthenticationMiddleware, TokenVerifier
from vidpipe_gateway.errors import http_error_handler, internal_error_handler
from vidpipe_gateway.events import TaskEventHub, status_events
from vidpipe_gateway.media import MediaController
from vidpipe_gateway.people import PeopleController
from vidpipe_gateway.videos import VideoController
from vidpipe_gateway.web import web_routes

# Health, the OpenAPI schema and the web UI's static shells are public; the shells fetch data with the token.
PUBLIC_PATHS = ["^/health$", "^/schema", "^/static/", "^/$", "^/videos(/[0-9a-fA-F-]+)?/?$"]


@get("/health", tags=["ops"], summary="Liveness and database reachability")
async def health(state: State) -> dict[str, str]:
    async with state.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return {"status": "ok"}


def create_app(settings: Settings) -> Litestar:
    @contextlib.asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            pool = await open_pool(settings.db, name="gateway")
            stack.push_async_callback(pool.close)
            app.state.pool = pool
            app.state.storage = await stack.enter_async_context(open_storage(settings.aws))
            app.state.sqs = await stack.enter_async_context(open_sqs(settings.aws))
            app.state.queues = await resolve_queue_urls(app.state.sqs, settings)
            listener = asyncio.create_task(app.state.events.listen(settings.db), name="task-event-listener")
            try:
                yield
            finally:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    configure_logging(settings.log_level, settings.log_format)
    handlers: dict[Any, Any] = {HTTPException: http_error_handler, Exception: internal_error_handler}
    return Litestar(
        route_handlers=[health, VideoController, MediaController, PeopleController, status_events, *web_routes()],
        lifespan=[resources],
        state=State({"settings": settings, "verifier": TokenVerifier(settings.auth), "events": TaskEventHub()}),
        middleware=[DefineMiddleware(JWTAuthenticationMiddleware, exclude=PUBLIC_PATHS)],
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

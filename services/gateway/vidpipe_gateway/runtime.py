"""What the gateway opens once per process, and the typed dependencies its controllers receive.

Controllers never read `app.state`: they declare `uploads: UploadService`, `media: MediaService`,
`people: PeopleService` or `hub: TaskEventHub` and Litestar provides them from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from litestar.di import Provide
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.pool import open_pool
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.settings import Settings
from vidpipe.storage import open_storage
from vidpipe_gateway.auth import Authenticator, TokenVerifier
from vidpipe_gateway.events import TaskEventHub
from vidpipe_gateway.schemas import TaskStatusResponse
from vidpipe_gateway.services import Backends, MediaService, PeopleService, UploadService


class GatewayRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Built before anything opens, so a production gateway without a JWKS refuses to start at all.
        self.authenticator = Authenticator(
            TokenVerifier(settings.auth, production=settings.environment == "production"), self.pool
        )
        self.hub = TaskEventHub(self._load_status, max_streams_per_user=settings.gateway.max_streams_per_user)
        self._backends: Backends | None = None
        self._services: tuple[UploadService, MediaService, PeopleService] | None = None

    def pool(self) -> AsyncConnectionPool[Any]:
        return self.backends.pool

    @property
    def backends(self) -> Backends:
        if self._backends is None:
            raise RuntimeError("the gateway's resources are not open (outside its lifespan)")
        return self._backends

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Any) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            pool = await open_pool(self.settings.db, name="gateway")
            stack.push_async_callback(pool.close)
            storage = await stack.enter_async_context(open_storage(self.settings.aws))
            sqs = await stack.enter_async_context(open_sqs(self.settings.aws))
            queues = await resolve_queue_urls(sqs, self.settings)
            self._backends = Backends(settings=self.settings, pool=pool, storage=storage, sqs=sqs, queues=queues)
            self._services = (
                UploadService(self._backends),
                MediaService(self._backends),
                PeopleService(self._backends),
            )
            listener = asyncio.create_task(self.hub.run(self.settings.db), name="task-event-listener")
            try:
                yield
            finally:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
                self._backends = self._services = None

    def _services_open(self) -> tuple[UploadService, MediaService, PeopleService]:
        if self._services is None:
            raise RuntimeError("the gateway's resources are not open (outside its lifespan)")
        return self._services

    async def _load_status(self, task_id: uuid.UUID) -> TaskStatusResponse | None:
        return await self._services_open()[0].load_status(task_id)

    def dependencies(self) -> dict[str, Provide]:
        def uploads() -> UploadService:
            return self._services_open()[0]

        def media() -> MediaService:
            return self._services_open()[1]

        def people() -> PeopleService:
            return self._services_open()[2]

        def hub() -> TaskEventHub:
            return self.hub

        def backends() -> Backends:
            return self.backends

        return {
            name: Provide(provider, sync_to_thread=False)
            for name, provider in {
                "uploads": uploads,
                "media": media,
                "people": people,
                "hub": hub,
                "backends": backends,
            }.items()
        }

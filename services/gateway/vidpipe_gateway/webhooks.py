"""Webhooks for API users: endpoints that receive signed task.completed / task.failed / task.rejected events.

The events themselves are queued by the database (migration 0009's trigger on tasks) in the transaction that
ends a task; `webhook_delivery` signs and posts them. Here: the endpoints' API, their delivery log, and a test
event. An endpoint's secret is returned once, by the request that creates it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from psycopg.types.json import Jsonb

from vidpipe.db.queries import queries
from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.errors import ApiError, not_found
from vidpipe_gateway.inputs import require_safe
from vidpipe_gateway.services import Backends
from vidpipe_gateway.webhook_delivery import TargetRefusedError, check_target, new_secret

WebhookEvent = Literal["task.completed", "task.failed", "task.rejected"]
EVENTS: tuple[WebhookEvent, ...] = ("task.completed", "task.failed", "task.rejected")
DeliveryState = Literal["pending", "succeeded", "failed"]

EndpointId = Annotated[uuid.UUID, PathParameter(description="webhook endpoint id")]
AuthedRequest = Request[CurrentUser, Any, Any]


class WebhookCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=10, max_length=2000, description="http(s) URL that receives POSTs")]
    events: Annotated[list[WebhookEvent], msgspec.Meta(min_length=1, max_length=3)] = msgspec.field(
        default_factory=lambda: list(EVENTS)
    )
    description: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class WebhookEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    created_at: datetime
    pending: int = 0  # deliveries waiting for an attempt
    failed: int = 0  # deliveries that ran out of attempts
    last_attempt_at: datetime | None = None


class WebhookEndpointCreated(WebhookEndpoint, frozen=True, kw_only=True):
    secret: str  # shown here only: store it now; it signs every delivery (Standard Webhooks, HMAC-SHA256)


class WebhookAttempt(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID  # the `webhook-id` header: the same on every attempt, so receivers can drop duplicates
    event: str
    task_id: uuid.UUID | None
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None  # when pending: the next try
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    log: list[WebhookAttempt]


def _endpoint(row: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row["id"],
        url=row["url"],
        events=list(row["events"]),
        description=row["description"],
        created_at=row["created_at"],
        pending=row.get("pending", 0),
        failed=row.get("failed", 0),
        last_attempt_at=row.get("last_attempt_at"),
    )


def _delivery(row: dict[str, Any]) -> WebhookDelivery:
    fields = {k: v for k, v in row.items() if k != "log"}
    return WebhookDelivery(**fields, log=msgspec.convert(row["log"], list[WebhookAttempt], strict=False))


class WebhookService:
    """The endpoints' use cases; every query is scoped to the caller (others' endpoints read as missing)."""

    def __init__(self, backends: Backends) -> None:
        self._pool = backends.pool
        self._settings = backends.settings.webhooks

    async def endpoints(self, user: CurrentUser) -> list[WebhookEndpoint]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(queries.webhook_list_endpoints, {"owner_id": user.id})).fetchall()
        return [_endpoint(r) for r in rows]

    async def create(self, user: CurrentUser, data: WebhookCreate) -> WebhookEndpointCreated:
        url = require_safe(data.url.strip(), "url")
        description = require_safe(data.description.strip(), "description") if data.description else None
        try:
            await check_target(url, allow_private=self._settings.allow_private_targets)
        except TargetRefusedError as error:
            raise ApiError(422, "webhook_target_refused", str(error)) from None
        secret = new_secret()
        limit = self._settings.max_endpoints_per_user
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(queries.webhook_lock_owner, {"owner_id": user.id})
            count = await (await conn.execute(queries.webhook_count_endpoints, {"owner_id": user.id})).fetchone()
            if count is not None and count["endpoints"] >= limit:
                raise ApiError(
                    409, "too_many_webhooks", f"at most {limit} webhook endpoints per user; delete one first"
                )
            row = await (
                await conn.execute(
                    queries.webhook_insert_endpoint,
                    {
                        "owner_id": user.id,
                        "url": url,
                        "secret": secret,
                        "events": list(dict.fromkeys(data.events)),
                        "description": description,
                    },
                )
            ).fetchone()
        assert row is not None
        return WebhookEndpointCreated(**msgspec.structs.asdict(_endpoint(row)), secret=secret)

    async def delete(self, user: CurrentUser, endpoint_id: uuid.UUID) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            row = await (
                await conn.execute(queries.webhook_delete_endpoint, {"endpoint_id": endpoint_id, "owner_id": user.id})
            ).fetchone()
        if row is None:
            raise not_found("webhook endpoint")

    async def _require(self, conn: Any, user: CurrentUser, endpoint_id: uuid.UUID) -> dict[str, Any]:
        row: dict[str, Any] | None = await (
            await conn.execute(queries.webhook_get_endpoint, {"endpoint_id": endpoint_id, "owner_id": user.id})
        ).fetchone()
        if row is None:
            raise not_found("webhook endpoint")
        return row

    async def deliveries(self, user: CurrentUser, endpoint_id: uuid.UUID, limit: int) -> list[WebhookDelivery]:
        async with self._pool.connection() as conn:
            await self._require(conn, user, endpoint_id)
            rows = await (
                await conn.execute(
                    queries.webhook_list_deliveries, {"endpoint_id": endpoint_id, "delivery_id": None, "limit": limit}
                )
            ).fetchall()
        return [_delivery(r) for r in rows]

    async def send_test(self, user: CurrentUser, endpoint_id: uuid.UUID) -> WebhookDelivery:
        payload = {
            "type": "webhook.test",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "data": {"endpoint_id": str(endpoint_id), "message": "A test event from vidpipe."},
        }
        async with self._pool.connection() as conn, conn.transaction():
            await self._require(conn, user, endpoint_id)
            inserted = await (
                await conn.execute(
                    queries.webhook_insert_delivery,
                    {"endpoint_id": endpoint_id, "event": "webhook.test", "task_id": None, "payload": Jsonb(payload)},
                )
            ).fetchone()
            assert inserted is not None
            rows = await (
                await conn.execute(
                    queries.webhook_list_deliveries,
                    {"endpoint_id": endpoint_id, "delivery_id": inserted["id"], "limit": 1},
                )
            ).fetchall()
        return _delivery(rows[0])

    async def redeliver(self, user: CurrentUser, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await self._require(conn, user, endpoint_id)
            row = await (
                await conn.execute(
                    queries.webhook_redeliver,
                    {"delivery_id": delivery_id, "endpoint_id": endpoint_id, "owner_id": user.id},
                )
            ).fetchone()
        if row is None:
            raise ApiError(409, "delivery_pending", "no finished delivery with that id: it may still be pending")


def _service(backends: Backends) -> WebhookService:
    return WebhookService(backends)


class WebhookController(Controller):
    path = "/api/webhooks"
    tags = ("webhooks",)

    @get("/", summary="My webhook endpoints (never their secrets)")
    async def list_endpoints(
        self, request: AuthedRequest, backends: NamedDependency[Backends]
    ) -> list[WebhookEndpoint]:
        return await _service(backends).endpoints(request.user)

    @post(
        "/",
        status_code=201,
        summary="Add an endpoint for task events; the answer holds its signing secret, shown this once",
    )
    async def create_endpoint(
        self, request: AuthedRequest, backends: NamedDependency[Backends], data: JSONBody[WebhookCreate]
    ) -> WebhookEndpointCreated:
        return await _service(backends).create(request.user, data)

    @delete("/{endpoint_id:uuid}", status_code=204, summary="Remove an endpoint (and its pending deliveries)")
    async def delete_endpoint(
        self, request: AuthedRequest, backends: NamedDependency[Backends], endpoint_id: EndpointId
    ) -> None:
        await _service(backends).delete(request.user, endpoint_id)

    @get("/{endpoint_id:uuid}/deliveries", summary="The delivery log: newest events first, each with its attempts")
    async def list_deliveries(
        self,
        request: AuthedRequest,
        backends: NamedDependency[Backends],
        endpoint_id: EndpointId,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> list[WebhookDelivery]:
        return await _service(backends).deliveries(request.user, endpoint_id, limit)

    @post("/{endpoint_id:uuid}/test", status_code=202, summary="Queue a signed `webhook.test` event to the endpoint")
    async def send_test(
        self, request: AuthedRequest, backends: NamedDependency[Backends], endpoint_id: EndpointId
    ) -> WebhookDelivery:
        return await _service(backends).send_test(request.user, endpoint_id)

    @post(
        "/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/retry",
        status_code=202,
        summary="Try a finished (failed or succeeded) delivery once more, now",
    )
    async def retry_delivery(
        self,
        request: AuthedRequest,
        backends: NamedDependency[Backends],
        endpoint_id: EndpointId,
        delivery_id: Annotated[uuid.UUID, PathParameter(description="delivery id")],
    ) -> None:
        await _service(backends).redeliver(request.user, endpoint_id, delivery_id)

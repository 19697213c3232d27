"""Webhooks: the API (auth, other users, bad input), the outbox trigger, signed delivery to a real loopback
receiver, retries with back-off, the delivery log, and several dispatchers side by side.

The receiver is a real HTTP server on 127.0.0.1 in a thread. Every request it records is checked with the
reference `standardwebhooks` library and with the few lines of `hmac` the README shows.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import structlog
import structlog.testing
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool
from standardwebhooks import Webhook

from vidpipe.db.queries import queries
from vidpipe.settings import AuthSettings, Settings, WebhookSettings
from vidpipe_gateway import webhook_delivery
from vidpipe_gateway.app import create_app
from vidpipe_gateway.webhook_delivery import WebhookDispatcher

from ..harness import wait_until
from .conftest import SECRET, auth, finish_with_transcript, uploaded_and_started

pytestmark = pytest.mark.integration


class Receiver:
    """A loopback endpoint: records every POST, answers with the next scripted status (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.delay_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                time.sleep(receiver.delay_s)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/vidpipe?source=test"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def readme_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What the README tells a receiver to do, word for word."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    return fresh and any(
        hmac.compare_digest(expected, s.split(",", 1)[1]) for s in headers["webhook-signature"].split()
    )


def assert_signed(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert readme_verify(secret, headers, body)
    payload: dict[str, Any] = Webhook(secret).verify(body, headers)  # the reference implementation agrees
    assert not readme_verify(secret, headers, body + b" ")  # and a changed body fails
    return payload


def hook_settings(settings: Settings, **webhooks: Any) -> Settings:
    defaults: dict[str, Any] = {"dispatcher": False, "allow_private_targets": True, "backoff_base_s": 0.0}
    return settings.model_copy(
        update={"auth": AuthSettings(jwt_secret=SECRET), "webhooks": WebhookSettings(**(defaults | webhooks))}
    )


@contextlib.asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


@contextlib.asynccontextmanager
async def dispatcher(pool: AsyncConnectionPool[Any], settings: Settings) -> AsyncIterator[WebhookDispatcher]:
    async with httpx.AsyncClient(timeout=settings.webhooks.timeout_s, trust_env=False) as http:
        yield WebhookDispatcher(pool, settings.webhooks, http)


async def create(client: AsyncTestClient[Any], user: str, url: str, **body: Any) -> Any:
    return await client.post("/api/webhooks", json={"url": url, **body}, headers=auth(user))


async def deliveries(client: AsyncTestClient[Any], user: str, endpoint_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/webhooks/{endpoint_id}/deliveries", headers=auth(user))
    assert response.status_code == 200, response.text
    return list(response.json())


async def fail_task(pool: AsyncConnectionPool[Any], task_id: str, code: str, message: str) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            queries.finish_task,
            {"task_id": uuid.UUID(task_id), "status": "FAILED", "error_code": code, "error_message": message},
        )


async def test_endpoints_are_private_to_their_owner_and_the_secret_is_shown_once(
    settings: Settings, receiver: Receiver
) -> None:
    async with gateway(hook_settings(settings)) as client:
        # Given alice creates an endpoint
        created = await create(client, "alice", receiver.url, description="CI pipeline")
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) == 32
        assert body["events"] == ["task.completed", "task.failed", "task.rejected"]
        endpoint = body["id"]

        # Then listing shows it without the secret, and only to alice
        listed = (await client.get("/api/webhooks", headers=auth("alice"))).json()
        assert [e["id"] for e in listed] == [endpoint] and "secret" not in listed[0]
        assert listed[0]["description"] == "CI pipeline"
        assert (await client.get("/api/webhooks", headers=auth("bob"))).json() == []

        # And bob can neither read its log, test it, nor delete it (404, as if it did not exist)
        for method, path in [
            ("GET", f"/api/webhooks/{endpoint}/deliveries"),
            ("POST", f"/api/webhooks/{endpoint}/test"),
            ("DELETE", f"/api/webhooks/{endpoint}"),
        ]:
            response = await client.request(method, path, headers=auth("bob"))
            assert response.status_code == 404, (method, path)
            assert response.json()["code"] == "not_found"
            assert (await client.request(method, path)).status_code == 401
        assert (await client.get("/api/webhooks")).status_code == 401
        assert (await client.post("/api/webhooks", json={"url": receiver.url})).status_code == 401

        # And alice deletes it
        assert (await client.delete(f"/api/webhooks/{endpoint}", headers=auth("alice"))).status_code == 204
        assert (await client.get("/api/webhooks", headers=auth("alice"))).json() == []
        assert (await client.delete(f"/api/webhooks/{endpoint}", headers=auth("alice"))).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "ftp://example.com/hook"}, 422, "webhook_target_refused"),
        ({"url": "https://user:pw@example.com/hook"}, 422, "webhook_target_refused"),
        ({"url": "https://example.com:99999/hook"}, 422, "webhook_target_refused"),
        ({"url": "not a url at all"}, 422, "webhook_target_refused"),
        ({"url": "https://example.com/\u202ehook"}, 422, "invalid_characters"),
        ({"url": "https://example.com/hook", "events": ["task.exploded"]}, 400, "invalid_request"),
        ({"url": "https://example.com/hook", "events": []}, 400, "invalid_request"),
        ({"url": "https://example.com/hook", "secret": "mine"}, 400, "invalid_request"),
    ],
)
async def test_bad_endpoints_are_refused_with_a_clear_error_and_nothing_is_stored(
    settings: Settings, body: dict[str, Any], status: int, code: str
) -> None:
    async with gateway(hook_settings(settings)) as client:
        response = await client.post("/api/webhooks", json=body, headers=auth("alice"))
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert len(response.json()["message"]) > 10
        assert (await client.get("/api/webhooks", headers=auth("alice"))).json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",  # the cloud metadata service
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_private_targets_are_refused_by_default(settings: Settings, url: str) -> None:
    async with gateway(hook_settings(settings, allow_private_targets=False)) as client:
        response = await create(client, "alice", url)
        assert (response.status_code, response.json()["code"]) == (422, "webhook_target_refused"), response.text
        assert "non-public" in response.json()["message"]


async def test_a_target_that_turns_private_after_creation_gets_nothing(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver
) -> None:
    # Given an endpoint accepted while loopback was allowed (as if its DNS answer changed since)
    async with gateway(hook_settings(settings)) as client:
        endpoint = (await create(client, "alice", receiver.url)).json()["id"]
        assert (await client.post(f"/api/webhooks/{endpoint}/test", headers=auth("alice"))).status_code == 202
        # When a production dispatcher (private targets refused) handles it
        strict = hook_settings(settings, allow_private_targets=False)
        async with dispatcher(pool, strict) as d:
            assert await d.run_once() == 1
        # Then nothing was sent, and the log says why
        assert receiver.requests == []
        [delivery] = await deliveries(client, "alice", endpoint)
        assert delivery["state"] == "pending" and "non-public address (127.0.0.1)" in delivery["last_error"]


async def test_a_completed_task_is_delivered_signed_by_the_gateways_own_dispatcher(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver
) -> None:
    hooked = hook_settings(settings, dispatcher=True, poll_interval_s=0.1)
    async with gateway(hooked) as client:
        endpoint = (await create(client, "alice", receiver.url)).json()
        await create(client, "bob", receiver.url)  # bob's endpoint must never hear of alice's task

        # When alice's task completes (the same UPDATE the pipeline commits)
        started = await uploaded_and_started(client, "alice")
        await finish_with_transcript(pool, started["task_id"], started["media_id"])

        # Then her endpoint receives one signed task.completed event
        await wait_until(lambda: len(receiver.requests) >= 1, timeout_s=15)
        await asyncio.sleep(0.5)  # nothing else arrives (bob's endpoint stays quiet)
        assert len(receiver.requests) == 1
        headers, body = receiver.requests[0]
        payload = assert_signed(endpoint["secret"], headers, body)
        assert payload["type"] == "task.completed"
        data = payload["data"]
        assert (data["task_id"], data["media_id"], data["status"]) == (
            started["task_id"],
            started["media_id"],
            "COMPLETED",
        )
        assert data["error_code"] is None and data["finished_at"] is not None
        assert headers["content-type"] == "application/json"
        assert datetime.fromisoformat(payload["timestamp"]).tzinfo is not None

        # And the delivery log shows one successful attempt with the endpoint's answer
        await wait_until(lambda: _state(client, endpoint["id"]), timeout_s=10)
        [delivery] = await deliveries(client, "alice", endpoint["id"])
        assert headers["webhook-id"] == delivery["id"]
        assert (delivery["event"], delivery["task_id"], delivery["attempts"]) == (
            "task.completed",
            started["task_id"],
            1,
        )
        assert delivery["last_status_code"] == 200 and delivery["next_attempt_at"] is None
        assert [(a["attempt"], a["status_code"], a["error"]) for a in delivery["log"]] == [(1, 200, None)]


async def _state(client: AsyncTestClient[Any], endpoint_id: str) -> bool:
    return bool((await deliveries(client, "alice", endpoint_id))[0]["state"] == "succeeded")


async def test_events_go_only_to_endpoints_that_asked_for_them_and_survive_deleting_the_media(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver
) -> None:
    async with gateway(hook_settings(settings)) as client:
        failures = (await create(client, "alice", receiver.url, events=["task.failed"])).json()
        completions = (await create(client, "alice", receiver.url, events=["task.completed"])).json()
        started = await uploaded_and_started(client, "alice")

        # When the task fails, and alice deletes the media before anything was sent
        await fail_task(pool, started["task_id"], "no_audio_stream", "The video has no audio track.")
        assert (await client.delete(f"/api/media/{started['media_id']}", headers=auth("alice"))).status_code == 204
        async with dispatcher(pool, hook_settings(settings)) as d:
            assert await d.run_once() == 1

        # Then only the endpoint that asked for failures got it, with the reason
        [(headers, body)] = receiver.requests
        payload = assert_signed(failures["secret"], headers, body)
        assert payload["type"] == "task.failed"
        assert payload["data"]["error_code"] == "no_audio_stream"
        assert payload["data"]["error_message"] == "The video has no audio track."
        assert await deliveries(client, "alice", completions["id"]) == []


async def test_failed_attempts_are_retried_with_back_off_then_marked_failed(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver
) -> None:
    async with gateway(hook_settings(settings)) as client:
        endpoint = (await create(client, "alice", receiver.url)).json()["id"]
        await client.post(f"/api/webhooks/{endpoint}/test", headers=auth("alice"))

        # Given a 30 s first back-off: a failed attempt is not retried at once
        receiver.statuses = [500, 503, 502]
        slow = hook_settings(settings, backoff_base_s=30.0, max_attempts=3)
        async with dispatcher(pool, slow) as d:
            assert await d.run_once() == 1
            assert await d.run_once() == 0
        [delivery] = await deliveries(client, "alice", endpoint)
        assert (delivery["state"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, 500)
        assert delivery["last_error"] == "the endpoint answered HTTP 500"
        wait = datetime.fromisoformat(delivery["next_attempt_at"]) - datetime.fromisoformat(delivery["last_attempt_at"])
        assert 29 <= wait.total_seconds() <= 31

        # When the back-off has passed (made due now), the next attempts run until the last one
        quick = hook_settings(settings, max_attempts=3)
        async with dispatcher(pool, quick) as d:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
            assert await d.run_once() == 1
            assert await d.run_once() == 1
            assert await d.run_once() == 0  # failed for good: nothing is due any more

        # Then three signed attempts arrived with the same webhook-id, and the log tells each answer
        ids = {headers["webhook-id"] for headers, _ in receiver.requests}
        assert len(receiver.requests) == 3 and len(ids) == 1
        [delivery] = await deliveries(client, "alice", endpoint)
        assert (delivery["state"], delivery["attempts"], delivery["next_attempt_at"]) == ("failed", 3, None)
        assert [a["status_code"] for a in delivery["log"]] == [500, 503, 502]
        listed = (await client.get("/api/webhooks", headers=auth("alice"))).json()
        assert (listed[0]["failed"], listed[0]["pending"]) == (1, 0)

        # And the owner can ask for one more attempt, which now succeeds
        retry = await client.post(f"/api/webhooks/{endpoint}/deliveries/{delivery['id']}/retry", headers=auth("alice"))
        assert retry.status_code == 202
        again = await client.post(f"/api/webhooks/{endpoint}/deliveries/{delivery['id']}/retry", headers=auth("alice"))
        assert (again.status_code, again.json()["code"]) == (409, "delivery_pending")
        async with dispatcher(pool, quick) as d:
            assert await d.run_once() == 1
        [delivery] = await deliveries(client, "alice", endpoint)
        assert (delivery["state"], delivery["last_status_code"], delivery["attempts"]) == ("succeeded", 200, 4)


async def test_a_slow_endpoint_times_out_and_unreachable_ones_are_logged(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver
) -> None:
    async with gateway(hook_settings(settings)) as client:
        slow = (await create(client, "alice", receiver.url)).json()["id"]
        await client.post(f"/api/webhooks/{slow}/test", headers=auth("alice"))
        receiver.delay_s = 2.0
        async with dispatcher(pool, hook_settings(settings, timeout_s=0.5)) as d:
            started = time.perf_counter()
            assert await d.run_once() == 1
            assert time.perf_counter() - started < 1.8
        [delivery] = await deliveries(client, "alice", slow)
        assert delivery["last_error"] == "timed out after 0.5 s" and delivery["last_status_code"] is None

        # An endpoint nobody listens on: connection refused, recorded, retried later
        closed = f"http://127.0.0.1:{receiver.server.server_port + 1}/nobody"
        with contextlib.closing(__import__("socket").socket()) as probe:
            if probe.connect_ex(("127.0.0.1", receiver.server.server_port + 1)) == 0:
                pytest.skip("the port next to the receiver is in use")
        nobody = (await create(client, "alice", closed)).json()["id"]
        await client.post(f"/api/webhooks/{nobody}/test", headers=auth("alice"))
        async with dispatcher(pool, hook_settings(settings)) as d:
            await d.run_once()
        [delivery] = await deliveries(client, "alice", nobody)
        assert delivery["state"] == "pending" and delivery["last_error"].startswith("ConnectError")


async def test_two_dispatchers_deliver_every_event_exactly_once(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver
) -> None:
    async with gateway(hook_settings(settings)) as client:
        endpoint = (await create(client, "alice", receiver.url)).json()
        for _ in range(12):
            await client.post(f"/api/webhooks/{endpoint['id']}/test", headers=auth("alice"))
        small_batches = hook_settings(settings, batch_size=3)
        async with dispatcher(pool, small_batches) as one, dispatcher(pool, small_batches) as two:
            for _ in range(5):
                await asyncio.gather(one.run_once(), two.run_once())
        ids = [headers["webhook-id"] for headers, _ in receiver.requests]
        assert len(ids) == 12 and len(set(ids)) == 12
        for headers, body in receiver.requests:
            assert assert_signed(endpoint["secret"], headers, body)["type"] == "webhook.test"
        assert {d["state"] for d in await deliveries(client, "alice", endpoint["id"])} == {"succeeded"}


async def test_endpoints_per_user_are_limited(settings: Settings, receiver: Receiver) -> None:
    async with gateway(hook_settings(settings, max_endpoints_per_user=2)) as client:
        for _ in range(2):
            assert (await create(client, "alice", receiver.url)).status_code == 201
        third = await create(client, "alice", receiver.url)
        assert (third.status_code, third.json()["code"]) == (409, "too_many_webhooks")
        assert (await create(client, "bob", receiver.url)).status_code == 201  # per user, not global


async def test_deleting_an_endpoint_drops_its_pending_deliveries(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver
) -> None:
    async with gateway(hook_settings(settings)) as client:
        endpoint = (await create(client, "alice", receiver.url)).json()["id"]
        await client.post(f"/api/webhooks/{endpoint}/test", headers=auth("alice"))
        await client.delete(f"/api/webhooks/{endpoint}", headers=auth("alice"))
        async with dispatcher(pool, hook_settings(settings)) as d:
            assert await d.run_once() == 0
        assert receiver.requests == []


async def test_the_secret_and_the_urls_path_never_reach_the_logs(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidpipe_gateway import webhook_delivery

    captured = structlog.testing.CapturingLogger()
    monkeypatch.setattr(webhook_delivery, "log", structlog.wrap_logger(captured, processors=[]))
    async with gateway(hook_settings(settings)) as client:
        endpoint = (await create(client, "alice", receiver.url)).json()
        await client.post(f"/api/webhooks/{endpoint['id']}/test", headers=auth("alice"))
        async with dispatcher(pool, hook_settings(settings)) as d:
            assert await d.run_once() == 1
    [line] = [call.kwargs for call in captured.calls if call.kwargs.get("event") == "webhook_attempt"]
    assert line["target"] == "http://127.0.0.1" and line["status_code"] == 200
    text = repr(captured.calls)
    assert endpoint["secret"] not in text and endpoint["secret"][6:] not in text
    assert "/hooks/vidpipe" not in text and "source=test" not in text  # a receiver's token may live there


async def delivered_test_events(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings, receiver: Receiver, count: int
) -> str:
    """A new endpoint of alice's with `count` test events delivered (finished just now); its id."""
    endpoint: str = (await create(client, "alice", receiver.url)).json()["id"]
    for _ in range(count):
        assert (await client.post(f"/api/webhooks/{endpoint}/test", headers=auth("alice"))).status_code == 202
    async with dispatcher(pool, hook_settings(settings)) as d:
        assert await d.run_once() == count
    return endpoint


async def test_finished_deliveries_past_the_retention_are_pruned_pending_ones_never(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver
) -> None:
    async with gateway(hook_settings(settings)) as client:
        endpoint = await delivered_test_events(client, pool, settings, receiver, 4)
        ids = [d["id"] for d in await deliveries(client, "alice", endpoint)]
        # Given deliveries finished 40 and 20 days ago, one finished just now and one still pending since 40 days
        async with pool.connection() as conn, conn.transaction():
            ages = {ids[0]: "40 days", ids[1]: "20 days", ids[2]: "0 days"}
            for delivery_id, age in ages.items():
                await conn.execute(
                    "UPDATE webhook_deliveries SET finished_at = now() - %s::interval WHERE id = %s",
                    (age, uuid.UUID(delivery_id)),
                )
            await conn.execute(
                "UPDATE webhook_deliveries SET state = 'pending', finished_at = NULL, "
                "created_at = now() - interval '40 days', next_attempt_at = now() + interval '1 hour' WHERE id = %s",
                (uuid.UUID(ids[3]),),
            )

        # When a dispatcher keeping 30 days prunes
        async with dispatcher(pool, hook_settings(settings, retention_days=30)) as d:
            assert await d.prune() == 1
            assert await d.prune() == 0  # nothing left past the retention

        # Then only the 40-day-old finished delivery went, with its attempts; the pending one waits on
        left = {d["id"]: d for d in await deliveries(client, "alice", endpoint)}
        assert set(left) == set(ids[1:])
        assert left[ids[3]]["state"] == "pending"
        async with pool.connection() as conn:
            orphans = await (
                await conn.execute(
                    "SELECT count(*) AS n FROM webhook_attempts WHERE delivery_id = %s", (uuid.UUID(ids[0]),)
                )
            ).fetchone()
        assert orphans is not None and orphans["n"] == 0


async def test_a_prune_backlog_is_worked_off_a_few_batches_per_pass(
    settings: Settings, pool: AsyncConnectionPool[Any], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_delivery, "PRUNE_BATCH", 1)
    monkeypatch.setattr(webhook_delivery, "PRUNE_BATCHES_PER_PASS", 2)
    async with gateway(hook_settings(settings)) as client:
        endpoint = await delivered_test_events(client, pool, settings, receiver, 3)
        async with dispatcher(pool, hook_settings(settings)) as d:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("UPDATE webhook_deliveries SET finished_at = now() - interval '40 days'")
            # Two one-row batches per pass: the third delivery waits for the next pass
            assert await d.prune() == 2
            assert len(await deliveries(client, "alice", endpoint)) == 1
            assert await d.prune() == 1
            assert await deliveries(client, "alice", endpoint) == []


def test_migrations_0009_and_0010_roll_back_and_apply_again(database_url: str) -> None:
    from importlib import resources

    import psycopg
    from yoyo import get_backend, read_migrations

    from vidpipe.db.migrate import _yoyo_url, apply_migrations

    backend = get_backend(_yoyo_url(database_url))
    migrations = read_migrations(str(resources.files("vidpipe.db").joinpath("migrations")))
    with backend.lock():
        backend.rollback_migrations(migrations.filter(lambda m: m.id in {"0009_webhooks", "0010_webhook_retention"}))
    with psycopg.connect(database_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'webhook%'")}
        triggers = conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'tasks_webhook_outbox'").fetchone()
    assert tables == set() and triggers == (0,)
    assert apply_migrations(database_url) == ["0009_webhooks", "0010_webhook_retention"]


@pytest.mark.parametrize(
    "url",
    ["http://xn--/hook", "http://exa mple.com/hook", "http://[zz]/hook", "http://a..b/hook", "https://x:99999/"],
)
async def test_malformed_hosts_are_refused_not_a_server_error(settings: Settings, url: str) -> None:
    async with gateway(hook_settings(settings)) as client:
        response = await create(client, "alice", url)
        assert (response.status_code, response.json()["code"]) == (422, "webhook_target_refused"), response.text

"""Webhook delivery: Standard Webhooks signatures, safe targets, and the dispatcher that posts due events.

Signing follows the Standard Webhooks specification (the scheme Svix and others use): headers `webhook-id`,
`webhook-timestamp` (Unix seconds) and `webhook-signature` = `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
with the endpoint's secret `whsec_<base64 key>`. It is a few lines of `hmac`, so the gateway does not depend on
a library for it; the tests check every delivery with the reference `standardwebhooks` package, so any
receiver that uses a Standard Webhooks library verifies our events unchanged.

Targets: a webhook makes the server send requests wherever a user points it, so an endpoint may only be an
http(s) URL whose host resolves to public addresses (unless `WEBHOOK_ALLOW_PRIVATE_TARGETS`). The check runs
again at every attempt, and the request goes to the very address that was checked (Host header and TLS SNI
keep the name), so a DNS answer that changes between check and connect cannot redirect it. Redirects are not
followed for the same reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import structlog
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe.settings import Settings, WebhookSettings

log = structlog.get_logger("vidpipe.gateway.webhooks")

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
USER_AGENT = "vidpipe-webhooks/1"
# A claimed delivery is not claimed again for this long beyond the delivery timeout (its lease).
LEASE_MARGIN_S = 30.0
MAX_ERROR_CHARS = 300
# Retention runs this often, deleting at most a batch of rows per statement and a few batches per pass, so a
# large backlog (the first prune after an upgrade) is worked off between deliveries instead of before them.
PRUNE_INTERVAL_S = 3600.0
PRUNE_BATCH = 1000
PRUNE_BATCHES_PER_PASS = 5
RESOLVE_TIMEOUT_S = 3.0


class TargetRefusedError(Exception):
    """The endpoint's URL or the addresses its host resolves to may not be called."""


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, base64, with the Standard Webhooks prefix."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for `body` sent as `message_id` at `timestamp`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def check_url(url: str) -> str:
    """The URL if its shape is acceptable (http(s), a host, no credentials); raises TargetRefusedError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as error:
        raise TargetRefusedError(f"the URL cannot be parsed: {error}") from None
    if any(ch.isspace() for ch in url):
        raise TargetRefusedError("the URL contains white space")
    if parts.scheme not in ("http", "https"):
        raise TargetRefusedError("only http and https URLs can receive webhooks")
    if not parts.hostname:
        raise TargetRefusedError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefusedError("credentials in the URL are not accepted; verify the signature instead")
    return url


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve_target(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to call for `host`, every one public unless allowed; raises TargetRefusedError.

    socket.gaierror (the name does not resolve) propagates: the caller decides whether that is fatal.
    """
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        private = [a for a in addresses if not _public(a)]
        if private:
            raise TargetRefusedError(
                f"{host} resolves to a non-public address ({private[0]}); webhooks go to public hosts only"
            )
    return addresses


async def check_target(url: str, *, allow_private: bool) -> None:
    """At creation: refuse a URL whose host is, or resolves to, a private address. A name that does not
    resolve now (or not within a few seconds) is accepted, since DNS may be down for a moment: every attempt
    checks again."""
    check_url(url)
    try:
        parts = httpx.URL(url)
        host = parts.host  # decoded here: a malformed IDNA label raises
    except (httpx.InvalidURL, ValueError) as error:
        raise TargetRefusedError(f"the URL cannot be parsed: {error}") from None
    if not host:
        raise TargetRefusedError("the URL has no host")
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            await resolve_target(host, parts.port or _default_port(parts), allow_private=allow_private)
    except UnicodeError:
        raise TargetRefusedError("the URL's host name is not a valid domain name") from None
    except (OSError, TimeoutError):  # socket.gaierror included: not resolvable now
        pass


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def backoff_s(attempt: int, settings: WebhookSettings) -> float:
    """Wait after failed attempt number `attempt` (1-based): base, doubling, capped."""
    return float(min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1)))


def _error_text(error: BaseException, timeout_s: float) -> str:
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return f"timed out after {timeout_s:g} s"
    if isinstance(error, TargetRefusedError):
        return str(error)
    if isinstance(error, socket.gaierror):
        return f"the host name does not resolve ({error.strerror})"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:MAX_ERROR_CHARS]


class WebhookDispatcher:
    """Claims due deliveries (several dispatchers side by side are safe) and posts each one once per claim."""

    def __init__(self, pool: AsyncConnectionPool[Any], settings: WebhookSettings, http: httpx.AsyncClient) -> None:
        self._pool = pool
        self._settings = settings
        self._http = http

    async def run(self) -> None:
        """Until cancelled: deliver what is due, sleep when nothing is."""
        log.info("webhook_dispatcher_started", poll_interval_s=self._settings.poll_interval_s)
        next_prune = time.monotonic()
        while True:
            if time.monotonic() >= next_prune:
                try:
                    backlog = await self.prune() == PRUNE_BATCH * PRUNE_BATCHES_PER_PASS
                except Exception as error:  # retention can wait an hour; deliveries go on
                    log.warning("webhook_prune_failed", error=repr(error))
                    backlog = False
                next_prune = time.monotonic() + (0.0 if backlog else PRUNE_INTERVAL_S)
            try:
                handled = await self.run_once()
            except Exception as error:  # Postgres restarting, say: the rows wait, try again next tick
                log.warning("webhook_dispatch_failed", error=repr(error))
                handled = 0
            if handled < self._settings.batch_size:
                await asyncio.sleep(self._settings.poll_interval_s)

    async def run_once(self) -> int:
        """One pass: claim up to a batch of due deliveries and post them concurrently; returns how many."""
        lease_s = self._settings.timeout_s + LEASE_MARGIN_S
        async with self._pool.connection() as conn, conn.transaction():
            rows: list[dict[str, Any]] = await (
                await conn.execute(queries.webhook_claim_due, {"limit": self._settings.batch_size, "lease_s": lease_s})
            ).fetchall()
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def prune(self) -> int:
        """Delete finished deliveries older than the retention (with their attempts), at most
        PRUNE_BATCHES_PER_PASS batches; returns how many."""
        params = {"retention_days": self._settings.retention_days, "limit": PRUNE_BATCH}
        pruned = 0
        for _ in range(PRUNE_BATCHES_PER_PASS):
            async with self._pool.connection() as conn, conn.transaction():
                deleted: int = (await conn.execute(queries.webhook_prune_finished, params)).rowcount
            pruned += deleted
            if deleted < PRUNE_BATCH:
                break
        if pruned:
            log.info("webhook_deliveries_pruned", deliveries=pruned, retention_days=self._settings.retention_days)
        return pruned

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        target = httpx.URL(url)
        host = target.host
        addresses = await resolve_target(
            host, target.port or _default_port(target), allow_private=self._settings.allow_private_targets
        )
        # Connect to the address just checked; the name travels in Host (and SNI for TLS).
        pinned = target.copy_with(host=addresses[0])
        extensions = {"sni_hostname": host} if target.scheme == "https" else {}
        request = self._http.build_request(
            "POST", pinned, headers={**headers, "host": target.netloc.decode()}, content=body, extensions=extensions
        )
        response = await self._http.send(request, stream=True)
        await response.aclose()  # the body is not needed (and may be large): only the status counts
        return response.status_code

    async def _deliver(self, row: dict[str, Any]) -> None:
        body = msgspec.json.encode(row["payload"])
        headers = signed_headers(row["secret"], str(row["id"]), body)
        attempt: int = row["attempt"]
        status_code: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                status_code = await self._post(row["url"], headers, body)
            if not 200 <= status_code < 300:
                error = f"the endpoint answered HTTP {status_code}"
        except asyncio.CancelledError:
            raise  # the gateway is stopping: the lease hands the row to the next dispatcher
        except Exception as caught:
            error = _error_text(caught, self._settings.timeout_s)
        duration_ms = round((time.perf_counter() - started) * 1000)
        if error is None:
            state = "succeeded"
        elif attempt >= self._settings.max_attempts:
            state = "failed"
        else:
            state = "pending"
        retry_in_s = backoff_s(attempt, self._settings)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                queries.webhook_log_attempt,
                {
                    "delivery_id": row["id"],
                    "attempt": attempt,
                    "status_code": status_code,
                    "error": error,
                    "duration_ms": duration_ms,
                },
            )
            await conn.execute(
                queries.webhook_finish_attempt,
                {
                    "delivery_id": row["id"],
                    "attempt": attempt,
                    "state": state,
                    "status_code": status_code,
                    "error": error,
                    "retry_in_s": retry_in_s,
                },
            )
        # Scheme and host only: a URL's path or query may hold the receiver's own token. Never the secret.
        log.info(
            "webhook_attempt",
            delivery_id=str(row["id"]),
            endpoint_id=str(row["endpoint_id"]),
            webhook_event=row["event"],
            target=f"{httpx.URL(row['url']).scheme}://{httpx.URL(row['url']).host}",
            attempt=attempt,
            status_code=status_code,
            error=error,
            state=state,
            retry_in_s=retry_in_s if state == "pending" else None,
            duration_ms=duration_ms,
        )


def dispatcher_lifespan(
    settings: Settings, pool: Callable[[], AsyncConnectionPool[Any]]
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A Litestar lifespan that runs the dispatcher beside the gateway (after the pool opened, before it closes)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if not settings.webhooks.dispatcher:
            yield
            return
        # trust_env=False: an HTTP(S)_PROXY in the environment would carry requests past the address check.
        timeout = httpx.Timeout(settings.webhooks.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http:
            dispatcher = WebhookDispatcher(pool(), settings.webhooks, http)
            task = asyncio.create_task(dispatcher.run(), name="webhook-dispatcher")
            try:
                yield
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    return lifespan

"""Session-wide real services: one PostgreSQL cluster and one moto SQS+S3 server on loopback.

Each test that asks for `settings` gets a fresh, migrated database and its own queue prefix and bucket, so
tests never see each other's rows or messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.migrate import apply_migrations
from vidpipe.db.pool import open_pool
from vidpipe.localinfra import MotoServer, PostgresCluster
from vidpipe.provision import provision
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.settings import AWSSettings, DatabaseSettings, Settings, WorkerSettings
from vidpipe.statedir import remove_abandoned_clusters
from vidpipe.storage import open_storage
from vidpipe.supervisor import pid_alive

from .harness import Harness

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    return SHARED_DATA / "audio"


TEST_PG_PREFIX = "vidpipe-test-pg-"
OWNER_FILE = "owner.pid"


def remove_stale_test_clusters() -> None:
    """Clusters left by an interrupted earlier run (its pytest killed before the fixture's cleanup): the
    server itself died with that run (PR_SET_PDEATHSIG), the directory did not. A directory whose owner is
    alive, or which has a live server and no owner file (another checkout's run), is left alone."""
    for root in Path(tempfile.gettempdir()).glob(f"{TEST_PG_PREFIX}*"):
        owner = root / OWNER_FILE
        try:
            owner_alive = pid_alive(int(owner.read_text()))
        except (OSError, ValueError):
            owner_alive = None
        cluster = PostgresCluster(root=root)
        if owner_alive is None:
            pid_file = cluster.data / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, IndexError):
                if pid_alive(int(pid_file.read_text().split()[0])):
                    continue
        elif owner_alive:
            continue
        cluster.stop_leftover()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    remove_stale_test_clusters()
    remove_abandoned_clusters()  # side clusters of embedded stacks whose (pytest tmp) state dir is gone
    # Not under pytest's tmp dir: that is private to root and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix=TEST_PG_PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    # The server is a child that gets SIGINT if this process dies, however it dies.
    cluster = PostgresCluster(root=root)
    cluster.start()
    yield cluster
    cluster.stop(mode="immediate")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    # Dummy credentials: moto accepts any, and nothing must ever reach a real AWS account from a test.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres: PostgresCluster) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    apply_migrations(url)
    yield url
    postgres.drop_database(name)


def make_settings(database_url: str, moto: MotoServer, **worker: Any) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        environment="test",
        db=DatabaseSettings(url=database_url, pool_max_size=4),
        aws=AWSSettings(endpoint_url=moto.url, bucket=f"test-{suffix}", queue_prefix=f"t{suffix}-"),
        worker=WorkerSettings(
            # The DLQ watcher is off unless a test turns it on: it would hide DLQ messages other tests read.
            **{
                "wait_time_s": 1,
                "visibility_timeout_s": 30,
                "retry_base_delay_s": 0,
                "shutdown_grace_s": 5,
                "dead_letter_check_s": 0,
            }
            | worker
        ),
    )


@pytest.fixture
def settings(database_url: str, moto: MotoServer) -> Settings:
    settings = make_settings(database_url, moto)
    provision(settings)
    return settings


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool[Any]]:
    pool = await open_pool(settings.db)
    yield pool
    await pool.close()


@pytest.fixture
async def harness(settings: Settings, pool: AsyncConnectionPool[Any]) -> AsyncIterator[Harness]:
    async with contextlib.AsyncExitStack() as stack:
        sqs = await stack.enter_async_context(open_sqs(settings.aws))
        storage = await stack.enter_async_context(open_storage(settings.aws))
        queues = await resolve_queue_urls(sqs, settings)
        h = Harness(settings=settings, pool=pool, sqs=sqs, storage=storage, queues=queues)
        yield h
        for stop, _, _ in h.running:
            stop.set()
        await asyncio.gather(*(task for _, task, _ in h.running), return_exceptions=True)

"""Migrations and the S3 helpers against the real services."""

from __future__ import annotations

import base64
import json
from typing import Any

import psycopg
import pytest

from vidpipe.db.migrate import apply_migrations
from vidpipe.db.queries import parse_named_queries
from vidpipe.localinfra import PostgresCluster
from vidpipe.settings import Settings
from vidpipe.storage import CompletedPart, open_storage


def test_migrations_apply_to_an_empty_database_and_are_idempotent(postgres: PostgresCluster) -> None:
    url = postgres.create_database("migrations_check")
    try:
        applied = apply_migrations(url)
        assert applied[0] == "0001_initial_schema" and "0004_unfinished_tasks_index" in applied
        assert apply_migrations(url) == []
        with psycopg.connect(url) as conn:
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {
            "users",
            "media",
            "tasks",
            "stage_runs",
            "task_events",
            "moderation_results",
            "transcripts",
            "transcript_segments",
            "transcript_words",
            "transcript_speakers",
            "summaries",
            "edits",
            "friendships",
        } <= tables
    finally:
        postgres.drop_database("migrations_check")


def test_task_events_are_append_only(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        user = conn.execute("INSERT INTO users (subject) VALUES ('x') RETURNING id").fetchone()
        media = conn.execute(
            "INSERT INTO media (owner_id, object_key, filename, content_type) "
            "VALUES (%s, 'k', 'f', 'video/mp4') RETURNING id",
            (user[0],),
        ).fetchone()
        task = conn.execute(
            "INSERT INTO tasks (media_id, trace_id) VALUES (%s, 't') RETURNING id", (media[0],)
        ).fetchone()
        conn.execute("INSERT INTO task_events (task_id, kind) VALUES (%s, 'queued')", (task[0],))
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE task_events SET kind = 'failed'")


def test_named_queries_reject_duplicates() -> None:
    assert parse_named_queries("-- name: a\nSELECT 1\n-- name: b\nSELECT 2") == {"a": "SELECT 1", "b": "SELECT 2"}
    with pytest.raises(ValueError, match="twice"):
        parse_named_queries("-- name: a\nSELECT 1\n-- name: a\nSELECT 2")


async def test_presigned_post_policy_limits_size_and_type(settings: Settings) -> None:
    # moto does not enforce POST policies, so the policy document itself is what we check.
    async with open_storage(settings.aws) as storage:
        post = await storage.presigned_post("uploads/u/m/v.mp4", "video/mp4", max_bytes=1000, expires_s=600)
    policy: dict[str, Any] = json.loads(base64.b64decode(post.fields["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert {"Content-Type": "video/mp4"} in policy["conditions"]
    assert {"key": "uploads/u/m/v.mp4"} in policy["conditions"]
    assert post.fields["Content-Type"] == "video/mp4"


async def test_multipart_upload_head_stream_and_delete(settings: Settings, tmp_path: Any) -> None:
    import httpx

    data = bytes(range(256)) * (6 * 1024 * 1024 // 256 + 1)  # > the 5 MiB S3 minimum part
    async with open_storage(settings.aws) as storage:
        upload_id = await storage.create_multipart("uploads/u/m/big.mp4", "video/mp4")
        parts = []
        async with httpx.AsyncClient() as http:
            for number, chunk in enumerate((data[: 5 * 1024 * 1024], data[5 * 1024 * 1024 :]), start=1):
                url = await storage.presigned_part("uploads/u/m/big.mp4", upload_id, number, 600)
                response = await http.put(url, content=chunk)
                parts.append(CompletedPart(part_number=number, etag=response.headers["ETag"]))
        await storage.complete_multipart("uploads/u/m/big.mp4", upload_id, parts)
        head = await storage.head("uploads/u/m/big.mp4")
        assert head is not None and (head.size, head.content_type) == (len(data), "video/mp4")
        assert await storage.head("uploads/u/m/missing.mp4") is None
        target = tmp_path / "copy.mp4"
        assert await storage.download_to("uploads/u/m/big.mp4", target) == len(data)
        assert target.read_bytes() == data
        await storage.upload_file(target, "media/m/copy.mp4", "video/mp4")  # the multipart path of upload_file
        assert (await storage.head("media/m/copy.mp4")).size == len(data)  # type: ignore[union-attr]
        assert await storage.delete_prefix("uploads/u/m/") == 1
        assert await storage.head("uploads/u/m/big.mp4") is None

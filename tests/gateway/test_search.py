"""Search: ranked, highlighted hits over transcripts, summaries and notes, never across users who do not share."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import AsyncTestClient
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe_gateway.search import snippet_parts, split_query

from .conftest import auth, finish_with_transcript, uploaded_and_started


async def library_item(
    client: AsyncTestClient[Any],
    pool: AsyncConnectionPool[Any],
    user: str,
    *,
    title: str | None = None,
    summary: str = "A short talk.",
    keywords: tuple[str, ...] = (),
) -> str:
    """A processed media of `user`: the two-segment transcript of the fixtures plus a summary; its id."""
    started = await uploaded_and_started(client, user)
    transcript_id = await finish_with_transcript(pool, started["task_id"], started["media_id"])
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            queries.insert_summary,
            {
                "transcript_id": transcript_id,
                "task_id": uuid.UUID(started["task_id"]),
                "title": title,
                "summary": summary,
                "keywords": list(keywords),
                "chapters": Jsonb([]),
                "model": "test",
            },
        )
    media_id: str = started["media_id"]
    return media_id


async def search(client: AsyncTestClient[Any], user: str, q: str, **params: Any) -> Any:
    response = await client.get("/api/search", params={"q": q, **params}, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def marked(hit: dict[str, Any]) -> list[str]:
    return [part["text"] for part in hit["snippet"] if part["mark"]]


async def test_hits_are_ranked_highlighted_and_say_where_to_jump(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    # Given a video about budgets (title and keyword) and one that only says "welcome" in its transcript
    budget = await library_item(
        client, pool, "alice", title="Budget review", summary="They plan the budget.", keywords=("budget",)
    )
    other = await library_item(client, pool, "alice", title="Chat")
    await client.patch(f"/api/media/{budget}/segments/1", json={"text": "Thanks, the budget is tight."},
                       headers=auth("alice"))  # fmt: skip
    note = await client.post(f"/api/media/{other}/annotations", json={"time_s": 2.75, "text": "Budget numbers later"},
                             headers=auth("alice"))  # fmt: skip
    assert note.status_code == 201

    # When alice searches for "budget"
    result = await search(client, "alice", "budget")
    hits = result["items"]

    # Then the summary hit (title A + keyword B + text C) ranks first, then the transcript and the note
    assert (hits[0]["media_id"], hits[0]["kind"]) == (budget, "summary")
    assert {(h["media_id"], h["kind"]) for h in hits[1:]} == {(budget, "segment"), (other, "note")}
    assert hits[0]["rank"] > hits[1]["rank"] > 0
    assert hits[0]["title"] == "Budget review" and hits[0]["time_s"] is None
    assert hits[0]["url"] == f"/videos/{budget}"

    # And each hit says where to jump: the edited segment's start (2.0 s) and the note's time
    segment = next(h for h in hits if h["kind"] == "segment")
    assert (segment["time_s"], segment["segment_idx"], segment["speaker"]) == (2.0, 1, "SPEAKER_01")
    assert segment["url"] == f"/videos/{budget}#t=2.00"
    assert marked(segment) == ["budget"]
    assert "".join(p["text"] for p in segment["snippet"]) == "Thanks, the budget is tight."
    assert next(h for h in hits if h["kind"] == "note")["url"] == f"/videos/{other}#t=2.75"

    # Named speakers show by their name
    await client.patch(f"/api/media/{budget}/speakers", json={"names": {"SPEAKER_01": "Ada"}}, headers=auth("alice"))
    assert next(h for h in (await search(client, "alice", "tight"))["items"])["speaker"] == "Ada"

    # The last word is a prefix ("welc" finds "welcome"); websearch syntax works: quotes, -exclusions
    assert {h["media_id"] for h in (await search(client, "alice", "welc"))["items"]} == {budget, other}
    assert marked((await search(client, "alice", "hello welc"))["items"][0]) == ["Hello", "welcome"]
    assert (await search(client, "alice", '"thanks for having"'))["items"][0]["media_id"] == other
    assert {h["media_id"] for h in (await search(client, "alice", "welcome -budget"))["items"]} == {budget, other}
    assert (await search(client, "alice", "budget -tight -numbers"))["items"][0]["kind"] == "summary"
    assert (await search(client, "alice", "zebra"))["items"] == []


async def test_nobody_finds_text_they_may_not_read(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    # Given alice's private video with a secret in its transcript, summary and a note
    secret = await library_item(client, pool, "alice", title="Merger plans", summary="Project nightingale.")
    await client.patch(f"/api/media/{secret}/segments/0", json={"text": "Nightingale closes Friday."},
                       headers=auth("alice"))  # fmt: skip
    await client.post(f"/api/media/{secret}/annotations", json={"time_s": 1, "text": "nightingale price"},
                      headers=auth("alice"))  # fmt: skip
    await client.get("/api/me", headers=auth("bob"))
    assert len((await search(client, "alice", "nightingale"))["items"]) == 3

    # Then bob finds nothing, whatever he types
    for q in ("nightingale", "merger", "nightin", "closes friday", "price"):
        assert (await search(client, "bob", q))["items"] == [], q
    assert (await client.get("/api/search", params={"q": "nightingale"})).status_code == 401

    # Public is "anyone with the link": a stranger's public video is readable but not listed in his search
    await client.patch(f"/api/media/{secret}", json={"visibility": "public"}, headers=auth("alice"))
    assert (await client.get(f"/api/media/{secret}", headers=auth("bob"))).status_code == 200
    assert (await search(client, "bob", "nightingale"))["items"] == []

    # Once alice makes bob a friend, her friends-visible (and public) videos are in his search, marked not his
    await client.post("/api/friends", json={"subject": "bob"}, headers=auth("alice"))
    await client.patch(f"/api/media/{secret}", json={"visibility": "friends"}, headers=auth("alice"))
    found = (await search(client, "bob", "nightingale"))["items"]
    assert len(found) == 3 and all(h["media_id"] == secret and not h["is_owner"] for h in found)
    assert (await search(client, "bob", "nightingale", scope="mine"))["items"] == []

    # But never her private ones, friend or not; and the friendship is one-way
    await client.patch(f"/api/media/{secret}", json={"visibility": "private"}, headers=auth("alice"))
    assert (await search(client, "bob", "nightingale"))["items"] == []
    bobs = await library_item(client, pool, "bob", title="Bob's nightingale", summary="Birds.")
    await client.patch(f"/api/media/{bobs}", json={"visibility": "friends"}, headers=auth("bob"))
    assert {h["media_id"] for h in (await search(client, "alice", "nightingale"))["items"]} == {secret}


async def test_paging_and_bad_queries(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> None:
    media = await library_item(client, pool, "alice", title="Paging")
    for t in range(5):
        await client.post(f"/api/media/{media}/annotations", json={"time_s": t * 0.5, "text": f"pelican {t}"},
                          headers=auth("alice"))  # fmt: skip

    # Pages of two, then the rest; together every hit exactly once
    first = await search(client, "alice", "pelican", limit=2)
    second = await search(client, "alice", "pelican", limit=2, offset=first["next_offset"])
    third = await search(client, "alice", "pelican", limit=2, offset=second["next_offset"])
    assert (first["next_offset"], second["next_offset"], third["next_offset"]) == (2, 4, None)
    seen = [h["time_s"] for page in (first, second, third) for h in page["items"]]
    assert sorted(seen) == [0.0, 0.5, 1.0, 1.5, 2.0]

    # Bad input is a clear 400, never a database error
    for params, code in [
        ({"q": ""}, "invalid_request"),
        ({"q": "  !!! "}, "invalid_query"),
        ({"q": "x" * 201}, "invalid_request"),
        ({"q": "pelican", "limit": 51}, "invalid_request"),
        ({"q": "pelican", "offset": 501}, "invalid_request"),
        ({"q": "pelican", "scope": "everyone"}, "invalid_request"),
    ]:
        response = await client.get("/api/search", params=params, headers=auth("alice"))
        assert (response.status_code, response.json()["code"]) == (400, code), (params, response.text)
    # Odd syntax is just text
    for q in ("pel:*", "a & b | !c", "'pelican'", "(pelican", "pelican)", "\\", '"unclosed', "-", "or"):
        response = await client.get("/api/search", params={"q": q}, headers=auth("alice"))
        assert response.status_code in (200, 400), (q, response.text)
        assert response.status_code == 200 or response.json()["code"] == "invalid_query"


async def test_snippets_carry_user_text_as_text(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> None:
    media = await library_item(client, pool, "alice", title="Markup")
    text = "<img src=x onerror=alert(1)> \ue000fake\ue001 marker and osprey"
    await client.post(f"/api/media/{media}/annotations", json={"time_s": 1, "text": text}, headers=auth("alice"))
    [hit] = (await search(client, "alice", "osprey"))["items"]
    # the markup comes back as plain text parts; forged markers were stripped, only the real match is marked
    assert marked(hit) == ["osprey"]
    assert "<img src=x onerror=alert(1)>" in "".join(p["text"] for p in hit["snippet"])
    assert not any("\ue000" in p["text"] or "\ue001" in p["text"] for p in hit["snippet"])


def test_query_splitting_and_snippet_parsing() -> None:
    assert split_query("budget rev") == ("budget", "rev")
    assert split_query('"budget review"') == ('"budget review"', None)
    assert split_query("budget -tight") == ("budget -tight", None)
    assert split_query("cats or") == ("cats or", None)
    assert split_query("e-mail") == ("e-mail", None)
    parts = snippet_parts("a \ue000b\ue001 c")
    assert [(p.text, p.mark) for p in parts] == [("a ", False), ("b", True), (" c", False)]

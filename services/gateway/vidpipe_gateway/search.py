"""Full-text search across a user's library: `GET /api/search?q=`, and the /search page that calls it.

PostgreSQL does the work (the `notes_search` query): GIN indexes over stored `tsvector` columns of segments,
summaries (title, keywords, text) and notes, the 'simple' configuration (see migration 0006 for why),
`websearch_to_tsquery` for what people type (quotes, `or`, `-word`), a prefix match on the last word,
`ts_rank` for order and `ts_headline` for the snippet.

Who may find what: the viewer's own media and, with scope=all, media that people who befriended them share
as friends-visible or public. That is the read rule of `GET /api/media/{id}` (every hit opens) minus
strangers' public media: public means "anyone with the link may read", not "listed for everyone".

Snippets never carry markup: `ts_headline` wraps matches in two private-use characters (removed from the
text beforehand, so a user cannot forge them), and they become `{text, mark}` parts here; the page builds
text nodes and <mark> elements from those.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from vidpipe.db.queries import queries
from vidpipe_gateway.auth import AUTH_OPTIONAL, CurrentUser
from vidpipe_gateway.errors import ApiError
from vidpipe_gateway.inputs import require_safe
from vidpipe_gateway.services import Backends
from vidpipe_gateway.web import page

START, STOP = "\ue000", "\ue001"
_MARKERS = re.compile(f"([{START}{STOP}])")
HEADLINE_OPTIONS = (
    f'StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'
)
WHOLE_OPTIONS = f"StartSel={START}, StopSel={STOP}, HighlightAll=true"
WHOLE_CHARS = 300  # a segment or note up to this long is shown whole
MAX_OFFSET = 500  # results are bounded: past the first few hundred, a better query beats paging
_WORD = re.compile(r"^\w+$")
_OPERATOR_WORDS = frozenset({"or", "and"})


class SnippetPart(msgspec.Struct, frozen=True):
    text: str
    mark: bool


class SearchHit(msgspec.Struct, frozen=True):
    media_id: uuid.UUID
    title: str
    """The generated title, or the file name before one exists."""
    kind: Literal["segment", "note", "summary"]
    time_s: float | None
    """Where to jump: the segment's start or the note's time (none for a summary hit)."""
    segment_idx: int | None
    speaker: str | None
    is_owner: bool
    rank: float
    snippet: list[SnippetPart]
    url: str
    """The transcript page at the hit: /videos/{id}#t=SECONDS."""


class SearchPage(msgspec.Struct, frozen=True):
    query: str
    items: list[SearchHit]
    next_offset: int | None


def snippet_parts(snippet: str) -> list[SnippetPart]:
    """`ts_headline` output → plain text parts, the matches marked; unbalanced markers cannot occur."""
    parts: list[SnippetPart] = []
    mark = False
    for piece in _MARKERS.split(snippet):
        if piece == START:
            mark = True
        elif piece == STOP:
            mark = False
        elif piece:
            parts.append(SnippetPart(text=piece, mark=mark))
    return parts


def split_query(q: str) -> tuple[str, str | None]:
    """(head, prefix): a plain last word is matched as a prefix (`welc` finds "welcome"); queries using the
    websearch syntax (quotes, `-word`, `or`) go to `websearch_to_tsquery` as they are."""
    words = q.split()
    last = words[-1] if words else ""
    if '"' in q or any(w.startswith("-") for w in words) or not _WORD.match(last) or last.lower() in _OPERATOR_WORDS:
        return q, None
    return " ".join(words[:-1]), last


class SearchService:
    def __init__(self, backends: Backends) -> None:
        self._b = backends

    async def search(self, user: CurrentUser, q: str, scope: str, limit: int, offset: int) -> SearchPage:
        query = require_safe(q, "q", fold_breaks=True).strip()
        if not re.search(r"\w", query):
            raise ApiError(400, "invalid_query", "type a word to search for")
        if offset > MAX_OFFSET:
            raise ApiError(400, "invalid_request", f"results are bounded: offset may be at most {MAX_OFFSET}")
        head, prefix = split_query(query)
        async with self._b.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    queries.notes_search,
                    {
                        "viewer_id": user.id,
                        "mine_only": scope == "mine",
                        "q": query,
                        "head": head,
                        "prefix": prefix,
                        "limit": limit + 1,
                        "offset": offset,
                        "markers": START + STOP,
                        "headline_options": HEADLINE_OPTIONS,
                        "whole_options": WHOLE_OPTIONS,
                        "whole_chars": WHOLE_CHARS,
                    },
                )
            ).fetchall()
        items = [_hit(r) for r in rows[:limit]]
        return SearchPage(query=query, items=items, next_offset=offset + limit if len(rows) > limit else None)


def _hit(row: dict[str, Any]) -> SearchHit:
    time_s = row["time_s"]
    anchor = f"#t={time_s:.2f}" if time_s is not None else ""
    return SearchHit(
        media_id=row["media_id"],
        title=row["title"] or row["filename"],
        kind=row["kind"],
        time_s=time_s,
        segment_idx=row["segment_idx"] if row["kind"] == "segment" else None,
        speaker=row["speaker_name"] or row["speaker"],
        is_owner=bool(row["is_owner"]),
        rank=round(float(row["rank"]), 6),
        snippet=snippet_parts(row["snippet"] or ""),
        url=f"/videos/{row['media_id']}{anchor}",
    )


def _service(backends: NamedDependency[Backends]) -> SearchService:
    return SearchService(backends)


class SearchController(Controller):
    path = "/api/search"
    tags = ("search",)
    dependencies = {"searcher": Provide(_service, sync_to_thread=False)}  # noqa: RUF012 (Litestar declares it so)

    @get("/", summary="Full-text search over my transcripts, titles, summaries, keywords and notes")
    async def search(
        self,
        request: Request[CurrentUser, Any, Any],
        searcher: NamedDependency[SearchService],
        q: Annotated[str, QueryParameter(min_length=1, max_length=200, description="words to find")],
        within: Annotated[
            Literal["all", "mine"],
            QueryParameter(name="scope", description="all: mine and what friends share; mine: mine only"),
        ] = "all",
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 20,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> SearchPage:
        return await searcher.search(request.user, q, within, limit, offset)


# The page is a static shell like the others (its script calls the API with the token), so it needs none.
@get("/search", include_in_schema=False, opt={AUTH_OPTIONAL: True})
async def search_page() -> Response[str]:
    return page("search.html")

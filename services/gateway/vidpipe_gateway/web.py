"""The web UI: static files under /static/ and four HTML shells (their scripts call the API with the token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import get
from litestar.params import FromPath
from litestar.response import File
from litestar.static_files import create_static_files_router

WEB_DIR = Path(__file__).parent / "web"


def _page(name: str) -> File:
    return File(WEB_DIR / name, media_type="text/html", content_disposition_type="inline")


@get("/", include_in_schema=False)
async def upload_page() -> File:
    return _page("index.html")


@get("/videos", include_in_schema=False)
async def videos_page() -> File:
    return _page("videos.html")


@get("/friends", include_in_schema=False)
async def friends_page() -> File:
    return _page("friends.html")


@get("/videos/{media_id:str}", include_in_schema=False)
async def video_page(media_id: FromPath[str]) -> File:
    return _page("video.html")


@get("/webhooks", include_in_schema=False)
async def webhooks_page() -> File:
    return _page("webhooks.html")


@get("/voices", include_in_schema=False)
async def voices_page() -> File:
    return _page("voices.html")


def web_routes() -> list[Any]:
    return [
        upload_page,
        videos_page,
        video_page,
        webhooks_page,
        friends_page,
        voices_page,
        create_static_files_router(path="/static", directories=[WEB_DIR]),
    ]

"""The web UI: scripts, styles and icons under /static/, and the pages' HTML shells at their routes (their scripts
call the API with the token). The shells live apart from the static files (pages/, not web/) so that only the
composed page is served, never a raw shell or the header fragment."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from litestar import MediaType, Response, get
from litestar.params import FromPath
from litestar.static_files import create_static_files_router

WEB_DIR = Path(__file__).parent / "web"
PAGES_DIR = Path(__file__).parent / "pages"
# Every shell has this marker where the shared site header (brand, navigation, sign-in box) goes, so a new
# page or link is added in one file, not in each page.
HEADER_MARKER = "  <!-- site-header -->\n"


@functools.cache
def page_html(name: str) -> str:
    """A page shell with the site header in place; read once per process (the files ship with the code)."""
    shell = (PAGES_DIR / name).read_text(encoding="utf-8")
    if shell.count(HEADER_MARKER) != 1:
        raise ValueError(f"{name} must hold the site-header marker exactly once")
    return shell.replace(HEADER_MARKER, (PAGES_DIR / "_header.html").read_text(encoding="utf-8"))


def page(name: str) -> Response[str]:
    return Response(page_html(name), media_type=MediaType.HTML)


@get("/", include_in_schema=False)
async def upload_page() -> Response[str]:
    return page("index.html")


@get("/videos", include_in_schema=False)
async def videos_page() -> Response[str]:
    return page("videos.html")


@get("/friends", include_in_schema=False)
async def friends_page() -> Response[str]:
    return page("friends.html")


@get("/videos/{media_id:str}", include_in_schema=False)
async def video_page(media_id: FromPath[str]) -> Response[str]:
    return page("video.html")


@get("/webhooks", include_in_schema=False)
async def webhooks_page() -> Response[str]:
    return page("webhooks.html")


@get("/voices", include_in_schema=False)
async def voices_page() -> Response[str]:
    return page("voices.html")


def web_routes() -> list[Any]:
    # Composed now, so a shell without its marker stops the gateway at start instead of failing its page.
    for shell in PAGES_DIR.glob("*.html"):
        if not shell.name.startswith("_"):
            page_html(shell.name)
    return [
        upload_page,
        videos_page,
        video_page,
        webhooks_page,
        friends_page,
        voices_page,
        create_static_files_router(path="/static", directories=[WEB_DIR]),
    ]

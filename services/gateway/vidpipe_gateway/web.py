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
# Every shell has these two markers, where the shared <head> lines (charset, viewport, icon, stylesheet) and the
# site header (brand, navigation, sign-in box) go, so a new page, link or stylesheet is added in one file, not
# in each page. A shell keeps only its own title and script.
HEAD_MARKER = "  <!-- site-head -->\n"
HEADER_MARKER = "  <!-- site-header -->\n"
FRAGMENTS = {HEAD_MARKER: "_head.html", HEADER_MARKER: "_header.html"}


@functools.cache
def page_html(name: str) -> str:
    """A page shell with the shared fragments in place; read once per process (the files ship with the code)."""
    html = (PAGES_DIR / name).read_text(encoding="utf-8")
    for marker, fragment in FRAGMENTS.items():
        if html.count(marker) != 1:
            raise ValueError(f"{name} must hold the marker {marker.strip()} exactly once")
        html = html.replace(marker, (PAGES_DIR / fragment).read_text(encoding="utf-8"))
    return html


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

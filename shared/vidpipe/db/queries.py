"""Named SQL: every statement lives in a `.sql` file under a `-- name: <query_name>` header.

Keeping SQL in files (as procrastinate does) makes each statement reviewable in one place and keeps Python
free of string building; every value goes in as a psycopg named parameter, never by formatting.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import LiteralString, cast

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, LiteralString]:
    """Split a file of `-- name: x` blocks into {name: sql}; a repeated name is an error."""
    parts = _HEADER.split(text)
    queries: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        # The files are ours and ship with the package: these strings are as literal as source code.
        queries[name] = cast(LiteralString, body.strip())
    return queries


@cache
def _load(filename: str) -> dict[str, LiteralString]:
    return parse_named_queries(resources.files("vidpipe.db").joinpath(filename).read_text(encoding="utf-8"))


class _Queries:
    def __init__(self, filename: str) -> None:
        self._filename = filename

    def __getattr__(self, name: str) -> LiteralString:
        try:
            return _load(self._filename)[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r} in {self._filename}") from None


queries = _Queries("queries.sql")

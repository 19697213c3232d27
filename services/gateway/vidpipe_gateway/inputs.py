"""Text a user sends that ends up in Postgres, subtitles or a page: no control characters, no bidi tricks.

PostgreSQL refuses a NUL in `text` (a request used to end in a 500), a stray ESC or BEL reaches a terminal
through an SRT file, and a right-to-left override makes a name read differently from what it is. Where the
text is a label we only display (a file name) such characters are stripped; where the user's words are the
point (segment text, speaker names, friends' subjects, hotwords) the request is refused with a 422.
"""

from __future__ import annotations

import re
import unicodedata

from vidpipe.subtitles import BIDI_CONTROLS
from vidpipe_gateway.errors import ApiError

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_FOLD = str.maketrans("\t\r\n", "   ")


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS


def strip_unsafe(text: str) -> str:
    """The text without control or bidi-override characters (tabs and line breaks become spaces)."""
    return "".join(ch for ch in text.translate(_FOLD) if not _unsafe(ch))


def require_safe(text: str, field: str, *, fold_breaks: bool = False) -> str:
    """The text itself, or a 422 naming the field when it holds a control or bidi-override character.

    With `fold_breaks`, tabs and line breaks (what a pasted paragraph brings) become spaces first.
    """
    if fold_breaks:
        text = text.translate(_FOLD)
    bad = next((ch for ch in text if _unsafe(ch)), None)
    if bad is not None:
        raise ApiError(422, "invalid_characters", f"{field} contains a control character (U+{ord(bad):04X}); remove it")
    return text


def safe_filename(filename: str) -> str:
    """The last path component with anything unusual replaced, so keys stay predictable and prefix-bound."""
    name = _UNSAFE_KEY_CHARS.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip("._") or "video"
    return name[:120]

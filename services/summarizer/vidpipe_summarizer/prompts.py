"""Prompts for the three kinds of call: a whole transcript in one pass, one chunk (map), chunk notes (reduce).

The same prompts go to every model; the JSON shape is enforced by the schema, so the prompts only say what
each field should contain. Field descriptions mirror the bounds in `schema.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from vidpipe_summarizer.transcript import TranscriptLine, format_timestamp

SYSTEM_PROMPT = (
    "You summarise transcripts of meetings, interviews and talks. Report what the speakers say, not what it "
    "might mean: no motives, lessons or conclusions of your own, and no names, numbers, decisions or topics "
    "that are not in the transcript. Refer to each speaker by the name shown before their words. "
    "Answer with one JSON object."
)

# What every "keywords" field asks for; keywords.py enforces it (and tops the list up) afterwards.
_KEYWORD_RULE = (
    "nouns or short noun phrases of 1 to 3 words, copied from the transcript, most important first; "
    "no sentences or parts of sentences, no filler words"
)


def _language_rule(language: str | None) -> str:
    if language:
        return f"Write the summary, title and keywords in the transcript's language (ISO code {language!r})."
    return "Write the summary, title and keywords in the language of the transcript."


def _speakers(lines: Sequence[TranscriptLine]) -> str:
    names = list(dict.fromkeys(line.speaker for line in lines if line.speaker))
    return ", ".join(names) if names else "not labelled"


def _speaker_rule(lines: Sequence[TranscriptLine]) -> str:
    """How to name people: by the names shown; a diarizer label (SPEAKER_00) is not a name to repeat."""
    names = list(dict.fromkeys(line.speaker for line in lines if line.speaker))
    if not names:
        return "The speakers are not labelled: write 'the speaker' or 'the speakers'."
    labels = [name for name in names if _is_label(name)]
    if not labels:
        return f"Name the speakers as shown ({', '.join(names)})."
    if len(labels) == len(names):
        return "Speaker names are unknown (labels like SPEAKER_00): write 'a speaker' or 'the speaker', not labels."
    return (
        f"Name the speakers as shown ({', '.join(n for n in names if not _is_label(n))}); for those shown only "
        "as a label like SPEAKER_00, write 'another speaker' instead of the label."
    )


def _is_label(name: str) -> bool:
    return name.startswith("SPEAKER_")


def render_lines(lines: Sequence[TranscriptLine]) -> str:
    return "\n".join(line.render() for line in lines)


def whole_transcript_prompt(lines: Sequence[TranscriptLine], *, duration: float, language: str | None) -> str:
    return (
        f"Transcript of a recording ({format_timestamp(duration)} long; speakers: {_speakers(lines)}). "
        "Each line is [minutes:seconds] speaker: words.\n\n"
        f"<transcript>\n{render_lines(lines)}\n</transcript>\n\n"
        "Return JSON with:\n"
        '- "summary": 2 to 4 short sentences in reported speech: who said, asked, proposed or decided what;\n'
        '- "title": a short title for the recording (at most 8 words);\n'
        f'- "keywords": 5 to 10 topics: {_KEYWORD_RULE}.\n'
        f"{_speaker_rule(lines)} {_language_rule(language)}"
    )


def chunk_prompt(
    lines: Sequence[TranscriptLine], *, part: int, parts: int, duration: float, language: str | None
) -> str:
    start, end = lines[0].start, lines[-1].end
    return (
        f"Part {part} of {parts} of the transcript of a recording ({format_timestamp(duration)} long), "
        f"from {format_timestamp(start)} to {format_timestamp(end)}; "
        f"speakers in this part: {_speakers(lines)}. "
        "Each line is [minutes:seconds] speaker: words.\n\n"
        f"<transcript>\n{render_lines(lines)}\n</transcript>\n\n"
        "Return JSON about this part only:\n"
        '- "summary": 1 to 3 short sentences in reported speech: who said, asked, proposed or decided what;\n'
        '- "title": a chapter title for this part (at most 8 words);\n'
        f'- "keywords": 1 to 8 topics of this part: {_KEYWORD_RULE}.\n'
        f"{_speaker_rule(lines)} {_language_rule(language)}"
    )


class NoteLine(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk's (or a group of chunks') notes, as shown to the reduce step."""

    start: float
    end: float
    title: str
    summary: str
    keywords: list[str]

    def render(self) -> str:
        return (
            f"[{format_timestamp(self.start)}-{format_timestamp(self.end)}] {self.title}: {self.summary} "
            f"(keywords: {', '.join(self.keywords)})"
        )


def notes_prompt(notes: Sequence[NoteLine], *, duration: float, language: str | None, final: bool) -> str:
    """Reduce step. `final` asks for the whole recording's summary; otherwise for merged notes of a stretch
    (used when there are too many notes for one context)."""
    rendered = "\n".join(note.render() for note in notes)
    header = (
        f"Notes on consecutive parts of one recording ({format_timestamp(duration)} long), in order, "
        "each as [start-end] title: summary (keywords).\n\n"
        f"<notes>\n{rendered}\n</notes>\n\n"
    )
    if final:
        fields = (
            "Return JSON for the whole recording:\n"
            '- "summary": 2 to 4 short sentences in reported speech: who said, asked, proposed or decided what;\n'
            '- "title": a short title for the recording (at most 8 words);\n'
            '- "keywords": the 5 to 10 most important of the notes\' keywords, most important first.\n'
        )
    else:
        fields = (
            "Return JSON merging these notes:\n"
            '- "summary": 1 to 3 sentences covering all of them;\n'
            '- "title": a title for this stretch (at most 8 words);\n'
            '- "keywords": 1 to 8 of the notes\' keywords.\n'
        )
    return header + fields + _language_rule(language)


def chat(user_prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt}]

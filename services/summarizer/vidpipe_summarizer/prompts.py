"""Prompts for the three kinds of call: a whole transcript in one pass, one chunk (map), chunk notes (reduce).

The same prompts go to every model; the JSON shape is enforced by the schema, so the prompts only say what
each field should contain. Field descriptions mirror the bounds in `schema.py`. Prompt tokens are what a
CPU pays for most (about 40 a second for the 1.5B on two cores), so the per-call part is kept short.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from vidpipe_summarizer.transcript import TranscriptLine, format_timestamp

# Every call starts with this one system prompt, and everything fixed about the task is in it: the server
# keeps its tokens in the prompt cache (read once per worker, or restored from disk by a one-shot run; see
# llama_server.py), so a job pays only for its transcript and the few lines after it. The per-call user
# message holds what varies: the text, the names, the language, and which of the three tasks it is.
SYSTEM_PROMPT = (
    "You summarise transcripts of meetings, interviews and talks. Report what the speakers say, not what it "
    "might mean: no motives, lessons or conclusions of your own, and no names, numbers, decisions or topics "
    "that are not in the text you are given. Refer to each speaker by the name shown before their words; a "
    "label like SPEAKER_00 is not a name: write 'a speaker' or 'another speaker' instead.\n"
    "You are given a whole transcript, one part of a transcript, or notes on consecutive parts. Transcript "
    "lines are `speaker: words`.\n"
    "Answer with one JSON object:\n"
    '- "summary": short sentences in reported speech: who said, asked, proposed or decided what (2 to 4 '
    "sentences for a whole recording, 1 to 3 for a part);\n"
    '- "title": a short title of at most 8 words (for a part: its chapter title);\n'
    '- "keywords": topics, most important first: nouns or short noun phrases of 1 to 3 words copied from the '
    "text; no sentences or parts of sentences, no filler words (5 to 10 for a whole recording, 1 to 8 for a "
    "part);\n"
    '- "chapters" (only when asked): a chapter title of at most 8 words for each numbered part, in order.\n'
    "Write the summary, title, keywords and chapters in the language of the transcript."
)


def _language_rule(language: str | None) -> str:
    return f"Language: {language!r}." if language else ""


def _speakers(lines: Sequence[TranscriptLine]) -> str:
    names = list(dict.fromkeys(line.speaker for line in lines if line.speaker))
    return ", ".join(names) if names else "not labelled"


def _speaker_rule(lines: Sequence[TranscriptLine]) -> str:
    """Who may be named: the names shown (a diarizer label like SPEAKER_00 is not a name to repeat)."""
    names = list(dict.fromkeys(line.speaker for line in lines if line.speaker))
    known = [name for name in names if not _is_label(name)]
    if not names:
        return "The speakers are not labelled: write 'the speaker' or 'the speakers'."
    if not known:
        return "The speakers' names are unknown."
    return f"Name the speakers: {', '.join(known)}."


def _is_label(name: str) -> bool:
    return name.startswith("SPEAKER_")


def render_lines(lines: Sequence[TranscriptLine]) -> str:
    return "\n".join(line.render() for line in lines)


def _tail(lines: Sequence[TranscriptLine], language: str | None) -> str:
    return " ".join(rule for rule in (_speaker_rule(lines), _language_rule(language)) if rule)


def whole_transcript_prompt(lines: Sequence[TranscriptLine], *, duration: float, language: str | None) -> str:
    return (
        f"The whole transcript of a recording ({format_timestamp(duration)} long; speakers: {_speakers(lines)}).\n"
        f"<transcript>\n{render_lines(lines)}\n</transcript>\n"
        f"Summarise the whole recording. {_tail(lines, language)}"
    )


def chaptered_transcript_prompt(
    parts: Sequence[Sequence[TranscriptLine]], *, duration: float, language: str | None
) -> str:
    """The whole transcript in one call, marked into the parts that become chapters."""
    lines = [line for part in parts for line in part]
    body = "\n".join(
        f"[Part {index} from {format_timestamp(part[0].start)}]\n{render_lines(part)}"
        for index, part in enumerate(parts, start=1)
    )
    return (
        f"The whole transcript of a recording ({format_timestamp(duration)} long; speakers: {_speakers(lines)}), "
        f"in {len(parts)} parts.\n<transcript>\n{body}\n</transcript>\n"
        f"Summarise the whole recording, and give each of the {len(parts)} parts a chapter title, in order. "
        f"{_tail(lines, language)}"
    )


def chunk_prompt(
    lines: Sequence[TranscriptLine], *, part: int, parts: int, duration: float, language: str | None
) -> str:
    start, end = lines[0].start, lines[-1].end
    return (
        f"Part {part} of {parts} of the transcript of a recording ({format_timestamp(duration)} long), "
        f"from {format_timestamp(start)} to {format_timestamp(end)}; "
        f"speakers in this part: {_speakers(lines)}.\n"
        f"<transcript>\n{render_lines(lines)}\n</transcript>\n"
        f"Summarise this part only. {_tail(lines, language)}"
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
    task = (
        "Summarise the whole recording from these notes; its keywords are the most important of the notes' keywords."
        if final
        else "Merge these notes into the notes of one part covering all of them."
    )
    return (
        f"Notes on consecutive parts of one recording ({format_timestamp(duration)} long), in order, "
        "each as [start-end] title: summary (keywords).\n"
        f"<notes>\n{rendered}\n</notes>\n"
        f"{task} {_language_rule(language)}".rstrip()
    )


def chat(user_prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt}]

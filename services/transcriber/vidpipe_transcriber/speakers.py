"""Joining words to speakers: pure functions shared by every engine (and unit-tested without models)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

import msgspec

from vidpipe_transcriber.models import SpeakerSummary, SpeakerTurn, Transcript, TranscriptSegment, TranscriptWord


def speaker_label(index: int) -> str:
    return f"SPEAKER_{index:02d}"


def assign_speakers(words: Sequence[TranscriptWord], turns: Sequence[SpeakerTurn]) -> list[str | None]:
    """The speaker of each word: the one whose turns overlap it most, else the nearest turn in time.

    Nearest matters because word boundaries from Whisper's attention are ±0.1-0.3 s and VAD trims turn
    edges: a word just outside every turn still belongs to whoever was speaking next to it. None only when
    there are no turns at all.
    """
    if not turns:
        return [None] * len(words)
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    starts = [t.start for t in ordered]
    # Running maximum of turn ends (and which turn holds it) lets a backwards scan stop early even when
    # turns overlap, as pyannote's do.
    max_end: list[float] = []
    max_end_index: list[int] = []
    for i, turn in enumerate(ordered):
        if i and max_end[-1] >= turn.end:
            max_end.append(max_end[-1])
            max_end_index.append(max_end_index[-1])
        else:
            max_end.append(turn.end)
            max_end_index.append(i)

    result: list[str | None] = []
    for word in words:
        after = bisect.bisect_left(starts, word.end)
        overlap: dict[str, float] = {}
        j = after - 1
        while j >= 0 and max_end[j] > word.start:
            turn = ordered[j]
            shared = min(turn.end, word.end) - max(turn.start, word.start)
            if shared > 0:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
            j -= 1
        if overlap:
            result.append(max(overlap.items(), key=lambda item: item[1])[0])
            continue
        # A zero-length word inside a turn has no positive overlap; treat containment as distance 0.
        best: tuple[float, str] | None = None
        if after > 0:
            before = ordered[max_end_index[after - 1]]
            best = (max(0.0, word.start - before.end), before.speaker)
        if after < len(ordered):
            following = ordered[after]
            distance = max(0.0, following.start - word.end)
            if best is None or distance < best[0]:
                best = (distance, following.speaker)
        result.append(best[1] if best else None)
    return result


SENTENCE_END = (".", "?", "!", "…")


def snap_changes_to_sentence_ends(
    words: Sequence[TranscriptWord], speakers: Sequence[str | None], max_shift: int = 2
) -> list[str | None]:
    """Move each change of speaker to a sentence end at most `max_shift` words away, if there is one.

    Whisper's word times trail or lead the voice by a few hundred ms, so a reply's first word often lands
    on the previous speaker ("…you were there. Neither did | I."). People rarely hand over mid-sentence,
    so when a change falls inside a sentence and a sentence ends close by, the change goes there.
    """
    out = list(speakers)
    for change in range(1, len(out)):
        if out[change] == out[change - 1] or _ends_sentence(words[change - 1]):
            continue
        before, after = out[change - 1], out[change]
        for shift in range(1, max_shift + 1):
            # Each move needs the yielding speaker to keep at least one word beyond it, so a snap never
            # erases someone's whole (short) turn.
            later = change + shift
            if later < len(out) and _ends_sentence(words[later - 1]) and _all_are(out[change : later + 1], after):
                out[change:later] = [before] * shift
                break
            earlier = change - shift
            if earlier >= 1 and _ends_sentence(words[earlier - 1]) and _all_are(out[earlier - 1 : change], before):
                out[earlier:change] = [after] * shift
                break
    return out


def _all_are(labels: Sequence[str | None], label: str | None) -> bool:
    return all(item == label for item in labels)


def _ends_sentence(word: TranscriptWord) -> bool:
    return word.word.rstrip().endswith(SENTENCE_END)


def split_at_speaker_changes(
    asr_segments: Sequence[Sequence[TranscriptWord]], speakers: Sequence[str | None]
) -> list[TranscriptSegment]:
    """Cut each ASR segment wherever consecutive words change speaker; words come back with their speaker.

    `speakers` runs parallel to the words of all segments, in order.
    """
    total = sum(len(words) for words in asr_segments)
    if total != len(speakers):
        raise ValueError(f"{len(speakers)} speakers for {total} words")
    out: list[TranscriptSegment] = []
    cursor = 0
    for words in asr_segments:
        run: list[TranscriptWord] = []
        for word in words:
            speaker = speakers[cursor]
            cursor += 1
            labelled = _with_speaker(word, speaker)
            if run and run[-1].speaker != speaker:
                out.append(_segment(run))
                run = []
            run.append(labelled)
        if run:
            out.append(_segment(run))
    return out


def relabel_by_first_appearance(
    segments: Sequence[TranscriptSegment], turns: Sequence[SpeakerTurn]
) -> tuple[list[TranscriptSegment], list[SpeakerTurn], dict[str, str]]:
    """Rename raw diarizer labels to SPEAKER_00… in order of first appearance.

    Order comes from the words first (what a reader sees), then from turns for speakers who were heard but
    got no words, so the transcript's labels are dense from SPEAKER_00.
    """
    mapping: dict[str, str] = {}
    for segment in segments:
        if segment.speaker is not None and segment.speaker not in mapping:
            mapping[segment.speaker] = speaker_label(len(mapping))
    for turn in sorted(turns, key=lambda t: t.start):
        if turn.speaker not in mapping:
            mapping[turn.speaker] = speaker_label(len(mapping))

    def rename(label: str | None) -> str | None:
        return None if label is None else mapping[label]

    new_segments = [
        TranscriptSegment(
            start=s.start,
            end=s.end,
            speaker=rename(s.speaker),
            text=s.text,
            words=[_with_speaker(w, rename(w.speaker)) for w in s.words],
        )
        for s in segments
    ]
    new_turns = [SpeakerTurn(start=t.start, end=t.end, speaker=mapping[t.speaker]) for t in turns]
    return new_segments, new_turns, mapping


def summarise_speakers(segments: Sequence[TranscriptSegment], turns: Sequence[SpeakerTurn]) -> list[SpeakerSummary]:
    seconds: dict[str, float] = {}
    for turn in turns:
        seconds[turn.speaker] = seconds.get(turn.speaker, 0.0) + (turn.end - turn.start)
    words: dict[str, int] = {}
    for segment in segments:
        if segment.speaker is not None:
            words[segment.speaker] = words.get(segment.speaker, 0) + len(segment.words)
    labels = sorted(set(seconds) | set(words))
    return [
        SpeakerSummary(label=label, speech_seconds=round(seconds.get(label, 0.0), 3), word_count=words.get(label, 0))
        for label in labels
    ]


def _segment(words: list[TranscriptWord]) -> TranscriptSegment:
    return TranscriptSegment(
        start=words[0].start,
        end=words[-1].end,
        speaker=words[0].speaker,
        text="".join(w.word for w in words).strip(),
        words=words,
    )


def _with_speaker(word: TranscriptWord, speaker: str | None) -> TranscriptWord:
    return TranscriptWord(start=word.start, end=word.end, word=word.word, probability=word.probability, speaker=speaker)


def attach_voices(
    transcript: Transcript, raw_turns: Sequence[SpeakerTurn], voices: Mapping[str, Sequence[float]], model: str
) -> Transcript:
    """The transcript with each speaker's voice (keyed by the diarizer's raw labels) under its final label.

    `raw_turns` are the turns the transcript was assembled from: relabelling keeps their order, so the i-th
    raw turn and the i-th labelled turn are the same speaker.
    """
    if not voices or len(raw_turns) != len(transcript.turns):
        return transcript
    final = {raw.speaker: labelled.speaker for raw, labelled in zip(raw_turns, transcript.turns, strict=True)}
    by_label = {final[raw]: list(vector) for raw, vector in voices.items() if raw in final}
    speakers = [
        msgspec.structs.replace(s, embedding=by_label[s.label]) if s.label in by_label else s
        for s in transcript.speakers
    ]
    return msgspec.structs.replace(transcript, speakers=speakers, embedding_model=model)

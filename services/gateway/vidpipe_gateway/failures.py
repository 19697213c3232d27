"""Why a task failed, in sentences a user can act on (the stages record stable codes for machines).

The codes are the ones the stages raise (`PermanentError` in services/*, the platform's runner, dead-letter
watcher, reconciler and the gateway itself). An unknown code falls back to the stage's own message, which is
already written for people, so a new code is never shown bare.
"""

from __future__ import annotations

SENTENCES: dict[str, str] = {
    # moderator: the upload itself
    "object_missing": "The uploaded file is no longer in storage. Please upload it again.",
    "file_not_found": "The uploaded file could not be found. Please upload it again.",
    "empty_file": "The uploaded file is empty (0 bytes). Please check the file and upload it again.",
    "not_media": "This file is not a video. Upload an MP4, MOV, WebM, MKV, AVI or MPEG recording.",
    "undecodable_media": "The video could not be read: its format or codec is not supported.",
    "corrupt_media": "The file is damaged and could not be decoded. Try exporting the recording again.",
    "truncated_media": "The file ends early: the upload or the recording was cut short. Please upload the whole file.",
    "no_video_stream": "The file has no video track.",
    "no_media_streams": "The file has neither sound nor picture: upload a video or an audio recording.",
    "no_audio_stream": "The video has no audio track, so there is nothing to transcribe.",
    "duration_over_limit": "The video is longer than this server accepts. Trim it or split it into parts.",
    "file_too_large": "The file is larger than this server accepts.",
    "media_unreachable": "The video could not be fetched from storage. Try again in a few minutes.",
    "media_forbidden": "Storage refused access to the video. Try again; if it persists, ask the operator.",
    "media_open_failed": "The video could not be opened. Try again, or export the recording again.",
    "rejected_by_moderation": "The video was rejected by the content check and was not processed further.",
    # transcriber
    "audio_too_long": "The recording is too long to transcribe on this server.",
    "unsupported_language": "The language chosen (or detected) is not one this server can transcribe.",
    "empty_transcript": "No speech was found in the recording.",
    "invalid_speaker_hint": "The number of speakers given is not valid. Leave it empty or give a number from 1.",
    "model_package_missing": "The server's speech model is not installed. The operator has to fix this.",
    "model_corrupt": "The server's model files are damaged. The operator has to fix this.",
    "unknown_model": "The server is set up with a model it does not know. The operator has to fix this.",
    # summarizer
    "transcript_missing": "The transcript to summarise was not found. Run the video again.",
    "transcript_unreadable": "The transcript could not be read for summarising. Run the video again.",
    "invalid_transcript": "The transcript could not be read for summarising. Run the video again.",
    "invalid_speaker_name": "A speaker name could not be used. Rename the speaker and summarise again.",
    "llm_context_too_small": "The transcript is too long for the summariser's model.",
    "llm_output_invalid": "The summariser did not produce a usable summary. Try re-summarising.",
    "llm_request_rejected": "The summariser refused the request. Try re-summarising.",
    # platform and gateway
    "retries_exhausted": "A stage kept failing after several attempts. Try again later.",
    "dead_lettered": "A worker stopped while processing this video, several times. Try again later.",
    "poison_message": "An internal message for this video could not be read. Start processing again.",
    "worker_shutdown": "The server shut down while processing this video. Start processing again.",
    "message_lost": "The job was lost on its way between stages. Start processing again.",
    "stack_restarted": "The server restarted while processing this video. Start processing again.",
    "queue_unavailable": "The processing queue could not be reached. Try again in a moment.",
    "superseded": "Another run of the same video was started at the same time; this one was stopped.",
}


def explain(code: str | None, message: str | None) -> str | None:
    """One or two sentences for a failed or rejected task, or None when nothing failed."""
    if not code:
        return None
    sentence = SENTENCES.get(code)
    if sentence is None:
        text = (message or "").strip()
        if not text:
            return "Processing failed for a reason this server did not describe."
        return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
    if code == "rejected_by_moderation" and message:
        # The moderator's reason names what it found; it is written for people already.
        return f"{sentence} {message.strip().rstrip('.')}."
    return sentence

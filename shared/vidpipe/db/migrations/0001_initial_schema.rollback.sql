DROP TABLE IF EXISTS edits, summaries, transcript_words, transcript_segments, transcript_speakers, transcripts,
    moderation_results, task_events, stage_runs, tasks, media, friendships, users CASCADE;
DROP FUNCTION IF EXISTS task_events_notify(), task_events_append_only();
DROP TYPE IF EXISTS event_kind, stage_state, task_status, stage, visibility;

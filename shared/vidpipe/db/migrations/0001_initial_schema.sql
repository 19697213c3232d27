-- vidpipe's initial schema: people, their media, the tasks that process it, and what each stage produced.

CREATE TYPE visibility AS ENUM ('private', 'friends', 'public');

CREATE TYPE stage AS ENUM ('moderate', 'transcribe', 'summarize');

-- What the user sees. PENDING: task row exists, first message not yet sent. UPLOAD_COMPLETE: the object was
-- HEADed and the first message sent. PROCESSING: a stage has claimed the task. The rest are terminal.
CREATE TYPE task_status AS ENUM ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING', 'COMPLETED', 'FAILED', 'REJECTED');

-- One stage's claim on a task (stage_runs.state):
--   running   a worker claimed it and heartbeats; a claim whose heartbeat is older than the visibility
--             timeout is stale and the next delivery takes it over
--   retrying  the last attempt failed with a retryable error; the next delivery claims it at once
--   completed results and the completion event are committed; a duplicate delivery does nothing
--   failed    a permanent failure (or retries exhausted); the task is FAILED or REJECTED
CREATE TYPE stage_state AS ENUM ('running', 'retrying', 'completed', 'failed');

-- task_events.kind, append-only history of a task:
--   queued    the gateway sent the first message (stage is the first stage)
--   started   a worker claimed the stage (attempt says which delivery)
--   progress  fraction done within a stage (progress column), throttled by the worker
--   completed the stage committed its results
--   retried   a retryable failure; detail has code, message and the back-off
--   failed    a permanent failure, or retries exhausted; detail has code and message
--   rejected  moderation refused the video; detail has the reason
CREATE TYPE event_kind AS ENUM ('queued', 'started', 'progress', 'completed', 'retried', 'failed', 'rejected');

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject       text NOT NULL UNIQUE,          -- the identity provider's `sub` claim
    email         text,
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Directed: user_id lets friend_id read user_id's friends-visible media.
CREATE TABLE friendships (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friend_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, friend_id),
    CHECK (user_id <> friend_id)
);

CREATE TABLE media (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    object_key    text NOT NULL UNIQUE,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint CHECK (size_bytes >= 0),
    upload_id     text,                           -- S3 multipart upload in progress
    uploaded_at   timestamptz,                    -- set when HEAD confirmed the object
    duration_s    double precision,
    probe         jsonb,                          -- codecs, resolution, fps... from the moderator
    audio_key     text,                           -- 16 kHz mono audio extracted by the moderator
    visibility    visibility NOT NULL DEFAULT 'private',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_owner_created_idx ON media (owner_id, created_at DESC, id);

CREATE TABLE tasks (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    media_id       uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    status         task_status NOT NULL DEFAULT 'PENDING',
    first_stage    stage NOT NULL DEFAULT 'moderate',
    current_stage  stage,
    options        jsonb NOT NULL DEFAULT '{}',
    trace_id       text NOT NULL,
    error_code     text,
    error_message  text,
    flagged        boolean NOT NULL DEFAULT false,  -- moderation let it through but marked it for review
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
CREATE INDEX tasks_media_idx ON tasks (media_id, created_at DESC);

CREATE TABLE stage_runs (
    task_id        uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    stage          stage NOT NULL,
    state          stage_state NOT NULL,
    attempt        integer NOT NULL DEFAULT 1,
    claim_token    uuid NOT NULL,                -- which delivery holds the claim
    claimed_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at   timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    -- Outbox: the next stage's message, committed with the results and kept until SQS accepted it, so a
    -- crash between commit and send is repaired by the duplicate delivery instead of stalling the task.
    next_message   jsonb,
    handed_off_at  timestamptz,
    PRIMARY KEY (task_id, stage)
);

CREATE TABLE task_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    stage       stage,
    kind        event_kind NOT NULL,
    attempt     integer NOT NULL DEFAULT 1,
    progress    real CHECK (progress BETWEEN 0 AND 1),
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX task_events_task_idx ON task_events (task_id, id);

-- History is append-only: an event is never rewritten (rows go only with their task).
CREATE FUNCTION task_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'task_events is append-only';
END;
$$;
CREATE TRIGGER task_events_no_update BEFORE UPDATE ON task_events
    FOR EACH ROW EXECUTE FUNCTION task_events_append_only();

-- Every event wakes the gateway's LISTEN connection, which feeds the SSE streams.
CREATE FUNCTION task_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vidpipe_task_events', json_build_object(
        'task_id', NEW.task_id, 'event_id', NEW.id, 'stage', NEW.stage, 'kind', NEW.kind)::text);
    RETURN NEW;
END;
$$;
CREATE TRIGGER task_events_notify AFTER INSERT ON task_events
    FOR EACH ROW EXECUTE FUNCTION task_events_notify();

CREATE TABLE moderation_results (
    task_id         uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    media_id        uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    verdict         text NOT NULL CHECK (verdict IN ('allowed', 'flagged', 'rejected')),
    reason          text,
    frames_scanned  integer NOT NULL DEFAULT 0,
    findings        jsonb NOT NULL DEFAULT '[]',   -- [{time_s, class, score}] of the offending frames
    model           text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE transcripts (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id               uuid NOT NULL UNIQUE REFERENCES tasks (id) ON DELETE CASCADE,
    media_id              uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    language              text,
    language_probability  real,
    duration_s            double precision,
    engine                text NOT NULL,
    model                 text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transcripts_media_idx ON transcripts (media_id, created_at DESC);

CREATE TABLE transcript_speakers (
    transcript_id  uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    label          text NOT NULL,                 -- stable machine label, SPEAKER_00...
    display_name   text,                          -- what the user called them
    PRIMARY KEY (transcript_id, label)
);

CREATE TABLE transcript_segments (
    transcript_id  uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    idx            integer NOT NULL,
    start_s        double precision NOT NULL,
    end_s          double precision NOT NULL,
    speaker        text,
    text           text NOT NULL,                 -- current text, after any edits
    original_text  text NOT NULL,                 -- the machine's text, never changed
    PRIMARY KEY (transcript_id, idx)
);

CREATE TABLE transcript_words (
    transcript_id  uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    idx            integer NOT NULL,
    segment_idx    integer NOT NULL,
    start_s        double precision NOT NULL,
    end_s          double precision NOT NULL,
    word           text NOT NULL,
    probability    real,
    speaker        text,
    PRIMARY KEY (transcript_id, idx)
);

-- One row per summarization run; the newest is the current one, earlier ones stay for comparison.
CREATE TABLE summaries (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    transcript_id  uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    task_id        uuid UNIQUE REFERENCES tasks (id) ON DELETE SET NULL,
    title          text,
    summary        text NOT NULL,
    keywords       text[] NOT NULL DEFAULT '{}',
    chapters       jsonb NOT NULL DEFAULT '[]',   -- [{start_s, title}]
    model          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX summaries_transcript_idx ON summaries (transcript_id, created_at DESC);

-- Who changed what and when; with original_text the machine's transcript is never lost.
CREATE TABLE edits (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    media_id       uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    transcript_id  uuid REFERENCES transcripts (id) ON DELETE CASCADE,
    editor_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    target         text NOT NULL CHECK (target IN ('segment_text', 'speaker_name', 'visibility')),
    target_key     text NOT NULL,                 -- segment idx, speaker label, or the media id
    old_value      text,
    new_value      text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX edits_media_idx ON edits (media_id, created_at);

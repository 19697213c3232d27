-- Named queries shared by the workers and the gateway. Parameters are psycopg named placeholders.

-- name: lock_task
-- Serialises claims on one task and tells the caller whether it still exists and is still live.
SELECT id, status, media_id FROM tasks WHERE id = %(task_id)s FOR UPDATE

-- name: claim_stage
-- Take the stage: a first delivery inserts; a retry or a stale claim (no heartbeat within the visibility
-- timeout) is taken over with a new claim token; anything else returns no row.
INSERT INTO stage_runs (task_id, stage, state, attempt, claim_token, claim_message_id)
VALUES (%(task_id)s, %(stage)s, 'running', 1, %(claim_token)s, %(message_id)s)
ON CONFLICT (task_id, stage) DO UPDATE
    SET state = 'running',
        attempt = stage_runs.attempt + 1,
        claim_token = EXCLUDED.claim_token,
        claim_message_id = EXCLUDED.claim_message_id,
        claimed_at = now(),
        heartbeat_at = now(),
        started_at = now(),
        finished_at = NULL
    WHERE stage_runs.state = 'retrying'
       OR (stage_runs.state = 'running'
           AND stage_runs.heartbeat_at < now() - make_interval(secs => %(stale_after_s)s))
RETURNING attempt

-- name: get_stage_run
SELECT state, attempt, claim_token, claim_message_id, heartbeat_at, next_message, handed_off_at
FROM stage_runs WHERE task_id = %(task_id)s AND stage = %(stage)s

-- name: heartbeat_stage
UPDATE stage_runs SET heartbeat_at = now()
WHERE task_id = %(task_id)s AND stage = %(stage)s AND claim_token = %(claim_token)s AND state = 'running'
RETURNING 1

-- name: complete_stage
-- Fenced by the claim token: if another delivery took the claim over, nothing is updated and the caller
-- rolls back its results.
UPDATE stage_runs
SET state = 'completed', finished_at = now(), next_message = %(next_message)s
WHERE task_id = %(task_id)s AND stage = %(stage)s AND claim_token = %(claim_token)s AND state = 'running'
RETURNING attempt

-- name: task_exists
-- Whether the task is still there (deleting its media deletes it).
SELECT EXISTS (SELECT 1 FROM tasks WHERE id = %(task_id)s) AS present

-- name: mark_handed_off
UPDATE stage_runs SET handed_off_at = now() WHERE task_id = %(task_id)s AND stage = %(stage)s

-- name: retry_stage
UPDATE stage_runs SET state = 'retrying', finished_at = now()
WHERE task_id = %(task_id)s AND stage = %(stage)s AND claim_token = %(claim_token)s AND state = 'running'
RETURNING attempt

-- name: fail_claimed_stage
-- A permanent failure or exhausted retries, reported by the claim holder only: a delivery whose claim was
-- taken over, or a stage that already completed, can never be turned into a failure from here.
UPDATE stage_runs SET state = 'failed', finished_at = now()
WHERE task_id = %(task_id)s AND stage = %(stage)s AND claim_token = %(claim_token)s AND state = 'running'
RETURNING attempt

-- name: fail_abandoned_stage
-- A dead letter or an unreadable body names this stage: fail it only when nobody holds a live claim (the
-- heartbeat stopped more than a visibility timeout ago) and it never completed. `retrying` counts as
-- abandoned only for dead letters, whose message can no longer come back.
UPDATE stage_runs SET state = 'failed', finished_at = now()
WHERE task_id = %(task_id)s AND stage = %(stage)s
  AND ((state = 'running' AND heartbeat_at < now() - make_interval(secs => %(stale_after_s)s))
       OR (state = 'retrying' AND %(retrying_is_abandoned)s))
RETURNING attempt

-- name: fail_unstarted_stage
-- A dead letter for a stage no delivery ever claimed (every worker died before the claim), while the task
-- still waits for that stage.
INSERT INTO stage_runs (task_id, stage, state, attempt, claim_token, finished_at)
SELECT t.id, %(stage)s, 'failed', 0, gen_random_uuid(), now()
FROM tasks t
WHERE t.id = %(task_id)s AND t.current_stage = %(stage)s
  AND t.status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')
ON CONFLICT (task_id, stage) DO NOTHING
RETURNING attempt

-- name: insert_progress_event
-- Progress only while the reporting claim still runs: a late report from an engine thread can never land
-- after the stage's `completed` or `failed` event.
INSERT INTO task_events (task_id, stage, kind, attempt, progress, detail)
SELECT %(task_id)s, %(stage)s, 'progress', %(attempt)s, %(progress)s, %(detail)s
WHERE EXISTS (SELECT 1 FROM stage_runs
              WHERE task_id = %(task_id)s AND stage = %(stage)s AND claim_token = %(claim_token)s
                AND state = 'running')
RETURNING id

-- name: insert_event
INSERT INTO task_events (task_id, stage, kind, attempt, progress, detail)
VALUES (%(task_id)s, %(stage)s, %(kind)s, %(attempt)s, %(progress)s, %(detail)s)
RETURNING id, created_at

-- name: mark_task_processing
UPDATE tasks SET status = 'PROCESSING', current_stage = %(stage)s, updated_at = now()
WHERE id = %(task_id)s AND status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')

-- name: advance_task
-- A stage finished and handed the task to the next one.
UPDATE tasks SET current_stage = %(next_stage)s, updated_at = now()
WHERE id = %(task_id)s AND status = 'PROCESSING'

-- name: finish_task
-- Terminal states only: COMPLETED, REJECTED or FAILED (with a code and message).
UPDATE tasks
SET status = %(status)s, error_code = %(error_code)s, error_message = %(error_message)s,
    finished_at = now(), updated_at = now()
WHERE id = %(task_id)s AND status NOT IN ('COMPLETED', 'FAILED', 'REJECTED')
RETURNING id

-- name: mark_task_flagged
UPDATE tasks SET flagged = true, updated_at = now() WHERE id = %(task_id)s

-- name: upsert_user
INSERT INTO users (subject, email, display_name) VALUES (%(subject)s, %(email)s, %(display_name)s)
ON CONFLICT (subject) DO UPDATE
    SET email = COALESCE(EXCLUDED.email, users.email),
        display_name = COALESCE(EXCLUDED.display_name, users.display_name)
RETURNING id, subject, email, display_name

-- name: insert_media
INSERT INTO media (id, owner_id, object_key, filename, content_type, size_bytes, upload_id)
VALUES (%(id)s, %(owner_id)s, %(object_key)s, %(filename)s, %(content_type)s, %(size_bytes)s, %(upload_id)s)
RETURNING id, created_at

-- name: insert_task
INSERT INTO tasks (media_id, status, first_stage, options, trace_id)
VALUES (%(media_id)s, 'PENDING', %(first_stage)s, %(options)s, %(trace_id)s)
RETURNING id

-- name: get_task_for_user
-- A user sees their own tasks only; anyone else's id reads as missing.
SELECT t.id, t.media_id, t.status, t.first_stage, t.current_stage, t.error_code, t.error_message, t.flagged,
       t.created_at, t.updated_at, t.finished_at
FROM tasks t JOIN media m ON m.id = t.media_id
WHERE t.id = %(task_id)s AND m.owner_id = %(owner_id)s

-- name: get_task
SELECT t.id, t.media_id, t.status, t.first_stage, t.current_stage, t.error_code, t.error_message, t.flagged,
       t.created_at, t.updated_at, t.finished_at
FROM tasks t WHERE t.id = %(task_id)s

-- name: stage_runs_for_task
SELECT stage, state, attempt, started_at, finished_at FROM stage_runs WHERE task_id = %(task_id)s

-- name: latest_progress_for_task
SELECT DISTINCT ON (stage) stage, progress, detail, created_at
FROM task_events WHERE task_id = %(task_id)s AND kind = 'progress'
ORDER BY stage, id DESC

-- name: events_for_task
SELECT id, stage, kind, attempt, progress, detail, created_at
FROM task_events WHERE task_id = %(task_id)s AND id > %(after_id)s ORDER BY id

-- name: get_user_by_subject
SELECT id, subject, email, display_name FROM users WHERE subject = %(subject)s

-- name: latest_task_for_media
SELECT id, status, current_stage, error_code, error_message, flagged, created_at, finished_at
FROM tasks WHERE media_id = %(media_id)s ORDER BY created_at DESC LIMIT 1

-- name: moderation_for_media
SELECT verdict, reason, frames_scanned, findings, model, created_at
FROM moderation_results WHERE media_id = %(media_id)s ORDER BY created_at DESC LIMIT 1

-- name: latest_transcript_for_media
SELECT id, task_id, language, language_probability, duration_s, engine, model, created_at
FROM transcripts WHERE media_id = %(media_id)s ORDER BY created_at DESC LIMIT 1

-- name: transcript_by_id
SELECT id, task_id, media_id, language, language_probability, duration_s, engine, model, created_at
FROM transcripts WHERE id = %(transcript_id)s

-- name: speakers_for_transcript
SELECT label, display_name FROM transcript_speakers WHERE transcript_id = %(transcript_id)s ORDER BY label

-- name: segments_for_transcript
SELECT idx, start_s, end_s, speaker, text, original_text
FROM transcript_segments WHERE transcript_id = %(transcript_id)s ORDER BY idx

-- name: words_for_transcript
SELECT idx, segment_idx, start_s, end_s, word, probability, speaker
FROM transcript_words WHERE transcript_id = %(transcript_id)s ORDER BY idx

-- name: latest_summary_for_transcript
SELECT id, title, summary, keywords, chapters, model, created_at
FROM summaries WHERE transcript_id = %(transcript_id)s ORDER BY created_at DESC LIMIT 1

-- name: delete_media
DELETE FROM media WHERE id = %(media_id)s

-- name: upsert_moderation_result
INSERT INTO moderation_results (task_id, media_id, verdict, reason, frames_scanned, findings, model)
VALUES (%(task_id)s, %(media_id)s, %(verdict)s, %(reason)s, %(frames_scanned)s, %(findings)s, %(model)s)
ON CONFLICT (task_id) DO UPDATE
    SET verdict = EXCLUDED.verdict, reason = EXCLUDED.reason, frames_scanned = EXCLUDED.frames_scanned,
        findings = EXCLUDED.findings, model = EXCLUDED.model, created_at = now()

-- name: record_media_probe
UPDATE media SET duration_s = %(duration_s)s, probe = %(probe)s, audio_key = COALESCE(%(audio_key)s, audio_key),
    updated_at = now()
WHERE id = %(media_id)s

-- name: delete_transcript_for_task
DELETE FROM transcripts WHERE task_id = %(task_id)s

-- name: insert_transcript
INSERT INTO transcripts (id, task_id, media_id, language, language_probability, duration_s, engine, model)
VALUES (%(id)s, %(task_id)s, %(media_id)s, %(language)s, %(language_probability)s, %(duration_s)s, %(engine)s,
        %(model)s)

-- name: insert_speaker
INSERT INTO transcript_speakers (transcript_id, label) VALUES (%(transcript_id)s, %(label)s)

-- name: insert_segment
INSERT INTO transcript_segments (transcript_id, idx, start_s, end_s, speaker, text, original_text)
VALUES (%(transcript_id)s, %(idx)s, %(start_s)s, %(end_s)s, %(speaker)s, %(text)s, %(text)s)

-- name: insert_word
INSERT INTO transcript_words (transcript_id, idx, segment_idx, start_s, end_s, word, probability, speaker)
VALUES (%(transcript_id)s, %(idx)s, %(segment_idx)s, %(start_s)s, %(end_s)s, %(word)s, %(probability)s,
        %(speaker)s)

-- name: insert_summary
INSERT INTO summaries (transcript_id, task_id, title, summary, keywords, chapters, model)
VALUES (%(transcript_id)s, %(task_id)s, %(title)s, %(summary)s, %(keywords)s, %(chapters)s, %(model)s)
ON CONFLICT (task_id) DO UPDATE
    SET title = EXCLUDED.title, summary = EXCLUDED.summary, keywords = EXCLUDED.keywords,
        chapters = EXCLUDED.chapters, model = EXCLUDED.model, created_at = now()

-- name: set_visibility
UPDATE media m SET visibility = %(visibility)s, updated_at = now()
FROM (SELECT visibility FROM media WHERE id = %(media_id)s FOR UPDATE) old
WHERE m.id = %(media_id)s
RETURNING old.visibility::text AS old_visibility

-- name: rename_speaker
UPDATE transcript_speakers s SET display_name = %(name)s
FROM (SELECT display_name FROM transcript_speakers
      WHERE transcript_id = %(transcript_id)s AND label = %(label)s FOR UPDATE) old
WHERE s.transcript_id = %(transcript_id)s AND s.label = %(label)s
RETURNING old.display_name AS old_name

-- name: edit_segment_text
UPDATE transcript_segments s SET text = %(text)s
FROM (SELECT text FROM transcript_segments
      WHERE transcript_id = %(transcript_id)s AND idx = %(idx)s FOR UPDATE) old
WHERE s.transcript_id = %(transcript_id)s AND s.idx = %(idx)s
RETURNING old.text AS old_text, s.idx, s.start_s, s.end_s, s.speaker, s.text, s.original_text

-- name: insert_edit
INSERT INTO edits (media_id, transcript_id, editor_id, target, target_key, old_value, new_value)
VALUES (%(media_id)s, %(transcript_id)s, %(editor_id)s, %(target)s, %(target_key)s, %(old_value)s, %(new_value)s)

-- name: edits_for_media
SELECT e.id, e.target, e.target_key, e.old_value, e.new_value, e.created_at, u.subject AS editor, e.undo_of
FROM edits e LEFT JOIN users u ON u.id = e.editor_id
WHERE e.media_id = %(media_id)s ORDER BY e.id

-- name: add_friend
INSERT INTO friendships (user_id, friend_id)
SELECT %(user_id)s, id FROM users WHERE subject = %(friend_subject)s
ON CONFLICT DO NOTHING
RETURNING friend_id

-- name: remove_friend
DELETE FROM friendships f USING users u
WHERE f.user_id = %(user_id)s AND f.friend_id = u.id AND u.subject = %(friend_subject)s
RETURNING f.friend_id

-- name: list_friends
SELECT u.subject, f.created_at FROM friendships f JOIN users u ON u.id = f.friend_id
WHERE f.user_id = %(user_id)s ORDER BY u.subject

-- ==== dead letters ====

-- name: record_dead_letter
-- First sighting of a dead letter wins; a later look at the same message returns no row.
INSERT INTO dead_letters (message_id, stage, task_id, outcome, reason, body)
VALUES (%(message_id)s, %(stage)s, %(task_id)s, %(outcome)s, %(reason)s, %(body)s)
ON CONFLICT (message_id) DO NOTHING
RETURNING message_id

-- name: dead_letters_for_stage
SELECT message_id, stage, task_id, outcome, reason, body, seen_at, redriven_at
FROM dead_letters WHERE stage = %(stage)s ORDER BY seen_at

-- name: mark_dead_letter_redriven
UPDATE dead_letters SET outcome = 'redriven', redriven_at = now() WHERE message_id = %(message_id)s

-- name: reopen_failed_stage
-- An operator redrives a dead letter: a task that failed because this stage was abandoned runs that stage
-- again. Tasks that failed for another reason (bad input), at another stage (an older letter of a stage that
-- completed: reopening there would leave the task PROCESSING at a stage whose worker drops the message), or
-- that finished are left as they are.
UPDATE tasks SET status = 'PROCESSING', current_stage = %(stage)s, error_code = NULL, error_message = NULL,
    finished_at = NULL, updated_at = now()
WHERE id = %(task_id)s AND status = 'FAILED' AND error_code IN ('dead_lettered', 'retries_exhausted')
  AND EXISTS (SELECT 1 FROM stage_runs r WHERE r.task_id = tasks.id AND r.stage = %(stage)s AND r.state = 'failed')
RETURNING id

-- name: retry_failed_stage_run
UPDATE stage_runs SET state = 'retrying', finished_at = now()
WHERE task_id = %(task_id)s AND stage = %(stage)s AND state = 'failed'

-- ==== gateway ====

-- name: gateway_lock_user
-- Serialises one user's quota checks (reservations, starts) so concurrent requests cannot all pass them.
SELECT id FROM users WHERE id = %(user_id)s FOR UPDATE

-- name: gateway_upload_usage
-- What a user reserved in the last 24 hours (deleted media still count: the ledger is never refunded):
-- `uploads` counts videos, `bytes` videos and note images.
SELECT count(*) FILTER (WHERE kind = 'media') AS uploads, COALESCE(sum(size_bytes), 0)::bigint AS bytes,
       min(created_at) AS oldest, min(created_at) FILTER (WHERE kind = 'media') AS oldest_upload
FROM upload_ledger WHERE user_id = %(user_id)s AND created_at > now() - interval '24 hours'

-- name: gateway_record_upload
-- kind: 'media' (a video or recording) or 'image' (a note's image, of that media).
INSERT INTO upload_ledger (user_id, media_id, size_bytes, kind)
VALUES (%(user_id)s, %(media_id)s, %(size_bytes)s, %(kind)s)

-- name: gateway_live_tasks_for_user
SELECT count(*) AS live
FROM tasks t JOIN media m ON m.id = t.media_id
WHERE m.owner_id = %(user_id)s AND t.status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')

-- name: gateway_media_by_key
-- The caller's media with this upload key, locked: one start-processing at a time per media.
SELECT id, owner_id, object_key, source_key, filename, content_type, size_bytes, upload_id, uploaded_at
FROM media WHERE object_key = %(object_key)s AND owner_id = %(owner_id)s
FOR UPDATE

-- name: gateway_readable_media
-- As get_readable_media, plus the pinned source object (the only video a viewer is ever served), its
-- thumbnail, and the latest moderation verdict (NULL while none), which decides whether anyone but the owner
-- may see either.
SELECT m.id, m.owner_id, m.object_key, m.source_key, m.thumbnail_key, m.filename, m.content_type, m.size_bytes,
       m.duration_s, m.visibility, m.created_at, m.owner_id = %(viewer_id)s AS is_owner,
       (SELECT r.verdict FROM moderation_results r WHERE r.media_id = m.id
        ORDER BY r.created_at DESC LIMIT 1) AS moderation_verdict
FROM media m
WHERE m.id = %(media_id)s
  AND (m.owner_id = %(viewer_id)s
       OR m.visibility = 'public'
       OR (m.visibility = 'friends' AND EXISTS (
               SELECT 1 FROM friendships f WHERE f.user_id = m.owner_id AND f.friend_id = %(viewer_id)s)))

-- name: gateway_latest_task_status
SELECT status FROM tasks WHERE media_id = %(media_id)s ORDER BY created_at DESC LIMIT 1

-- name: gateway_pin_source
-- The upload was copied to a server-owned key and checked there: from now on that copy is the media.
UPDATE media SET source_key = %(source_key)s, size_bytes = %(size_bytes)s, content_type = %(content_type)s,
    uploaded_at = now(), upload_id = NULL, updated_at = now()
WHERE id = %(media_id)s

-- name: gateway_queue_task
-- PENDING → UPLOAD_COMPLETE with its `queued` event, in one statement, before the message is sent, so the
-- event can never follow a worker's `started`.
WITH queued AS (
    UPDATE tasks SET status = 'UPLOAD_COMPLETE', current_stage = %(stage)s, updated_at = now()
    WHERE id = %(task_id)s AND status = 'PENDING'
    RETURNING id
)
INSERT INTO task_events (task_id, stage, kind, attempt, detail)
SELECT id, %(stage)s, 'queued', 1, %(detail)s FROM queued
RETURNING id

-- name: gateway_fail_unsent_task
-- The first message could not be sent: the task ends FAILED with the reason instead of waiting for ever.
WITH failed AS (
    UPDATE tasks SET status = 'FAILED', error_code = %(error_code)s, error_message = %(error_message)s,
        finished_at = now(), updated_at = now()
    WHERE id = %(task_id)s AND status IN ('PENDING', 'UPLOAD_COMPLETE')
    RETURNING id, current_stage
)
INSERT INTO task_events (task_id, stage, kind, attempt, detail)
SELECT id, current_stage, 'failed', 1, %(detail)s FROM failed
RETURNING id

-- name: gateway_delete_unstarted_task
-- start-processing refused the upload after claiming the media: forget the claim so the user can retry.
DELETE FROM tasks WHERE id = %(task_id)s AND status = 'PENDING'

-- name: gateway_ensure_user
-- A friend request names a subject: it gets a row whether or not that person has signed in yet, so the
-- answer never tells whether the subject exists (and the friendship holds when they first sign in).
INSERT INTO users (subject) VALUES (%(subject)s) ON CONFLICT (subject) DO NOTHING

-- ==== durable ====

-- name: sweep_unfinished_tasks
-- Unfinished tasks that showed no sign of life (task update, claim heartbeat, stage finish, event) for
-- idle_s seconds, with the current stage's claim not completed or failed. `stage` is the stage whose
-- message the task waits for; `outbox` is the previous stage's committed next message, if any; `source_key`
-- is the pinned copy moderation reads (NULL if start-processing died before pinning: the upload key is
-- client-writable and, once pinned, deleted, so it is never what a rebuilt message names).
SELECT t.id AS task_id, t.media_id, t.status, t.first_stage, t.trace_id, t.options,
       COALESCE(t.current_stage, t.first_stage) AS stage, m.source_key, r.state AS run_state,
       prev.next_message AS outbox,
       (SELECT tr.id FROM transcripts tr WHERE tr.media_id = t.media_id
        ORDER BY tr.created_at DESC LIMIT 1) AS transcript_id
FROM tasks t
JOIN media m ON m.id = t.media_id
LEFT JOIN stage_runs r ON r.task_id = t.id AND r.stage = COALESCE(t.current_stage, t.first_stage)
LEFT JOIN stage_runs prev ON prev.task_id = t.id
     AND prev.stage = (enum_range(NULL::stage))[
         array_position(enum_range(NULL::stage), COALESCE(t.current_stage, t.first_stage)) - 1]
WHERE t.status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')
  AND (r.state IS NULL OR r.state IN ('running', 'retrying'))
  AND GREATEST(t.updated_at, r.heartbeat_at, r.finished_at,
               (SELECT max(e.created_at) FROM task_events e WHERE e.task_id = t.id))
      < now() - make_interval(secs => %(idle_s)s)
ORDER BY t.created_at
LIMIT %(limit)s

-- name: sweep_release_claims
-- After the whole stack restarted no worker is alive: every running claim of an unfinished task is released
-- at once (instead of waiting for it to go stale) so the re-sent message is claimed immediately.
UPDATE stage_runs r SET state = 'retrying', finished_at = now()
FROM tasks t
WHERE t.id = r.task_id AND r.state = 'running' AND t.status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')
RETURNING r.task_id, r.stage::text AS stage, r.attempt

-- name: sweep_record_event
INSERT INTO task_events (task_id, stage, kind, attempt, detail)
VALUES (%(task_id)s, %(stage)s, %(kind)s, %(attempt)s, %(detail)s)

-- name: sweep_mark_queued
UPDATE tasks SET status = 'UPLOAD_COMPLETE', current_stage = %(stage)s, updated_at = now()
WHERE id = %(task_id)s AND status = 'PENDING'

-- name: sweep_fail_task
-- A task whose next message cannot be rebuilt (its input is gone) ends with the reason instead of waiting.
UPDATE tasks SET status = 'FAILED', error_code = %(error_code)s, error_message = %(error_message)s,
    finished_at = now(), updated_at = now()
WHERE id = %(task_id)s AND status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')
RETURNING id

-- name: sweep_try_lock
-- One sweeper pass at a time across every process that runs one: the lock lives as long as the transaction
-- the pass holds open, so a sweeper that dies releases it with its connection.
SELECT pg_try_advisory_xact_lock(hashtext('vidpipe-sweep')) AS locked

-- ==== notes and search ====

-- name: notes_count_for_media
SELECT count(*) AS annotations FROM annotations WHERE media_id = %(media_id)s

-- name: notes_insert_note
INSERT INTO annotations (media_id, author_id, kind, time_s, after_segment, body)
VALUES (%(media_id)s, %(author_id)s, 'note', %(time_s)s, %(after_segment)s, %(body)s)
RETURNING id, media_id, kind, time_s, after_segment, body, state, image_key, content_type, size_bytes,
          created_at, updated_at

-- name: notes_insert_image
-- A reserved image: counts for nothing (never listed, searched or exported) until it is confirmed.
INSERT INTO annotations (id, media_id, author_id, kind, time_s, after_segment, body, state, upload_key,
                         content_type, size_bytes)
VALUES (%(id)s, %(media_id)s, %(author_id)s, 'image', %(time_s)s, %(after_segment)s, %(body)s, 'pending',
        %(upload_key)s, %(content_type)s, %(size_bytes)s)
RETURNING id, media_id, kind, time_s, after_segment, body, state, image_key, content_type, size_bytes,
          created_at, updated_at

-- name: notes_stale_reservations
-- Reserved images never confirmed although their upload URL expired `older_than_s` ago: nobody sees them and
-- no client will confirm them now, but they would hold the media's annotation cap (and their uploads) forever.
-- Only the owner's media: for anyone else this finds nothing, and the request's own check answers them.
SELECT a.id, a.upload_key FROM annotations a
JOIN media m ON m.id = a.media_id
WHERE a.media_id = %(media_id)s AND m.owner_id = %(owner_id)s AND a.state = 'pending'
  AND a.created_at < now() - make_interval(secs => %(older_than_s)s)

-- name: notes_delete_stale_reservation
DELETE FROM annotations WHERE id = %(annotation_id)s AND media_id = %(media_id)s AND state = 'pending'

-- name: notes_for_media
-- What readers see: notes and confirmed images, in transcript order.
SELECT id, media_id, kind, time_s, after_segment, body, state, image_key, content_type, size_bytes,
       created_at, updated_at
FROM annotations WHERE media_id = %(media_id)s AND state = 'ready'
ORDER BY time_s, created_at, id

-- name: notes_get_for_update
SELECT id, media_id, kind, time_s, after_segment, body, state, upload_key, image_key, content_type, size_bytes,
       created_at, updated_at
FROM annotations WHERE id = %(annotation_id)s AND media_id = %(media_id)s
FOR UPDATE

-- name: notes_update
-- A null keeps the stored value (after_segment is cleared with clear_after_segment).
UPDATE annotations
SET body = COALESCE(%(body)s, body),
    time_s = COALESCE(%(time_s)s, time_s),
    after_segment = CASE WHEN %(clear_after_segment)s THEN NULL
                         ELSE COALESCE(%(after_segment)s, after_segment) END,
    updated_at = now()
WHERE id = %(annotation_id)s AND media_id = %(media_id)s
RETURNING id, media_id, kind, time_s, after_segment, body, state, image_key, content_type, size_bytes,
          created_at, updated_at

-- name: notes_mark_ready
UPDATE annotations
SET state = 'ready', image_key = %(image_key)s, content_type = %(content_type)s, size_bytes = %(size_bytes)s,
    updated_at = now()
WHERE id = %(annotation_id)s AND media_id = %(media_id)s
RETURNING id, media_id, kind, time_s, after_segment, body, state, image_key, content_type, size_bytes,
          created_at, updated_at

-- name: notes_delete
DELETE FROM annotations WHERE id = %(annotation_id)s AND media_id = %(media_id)s

-- name: notes_search
-- Full-text search over what the viewer may read: their own media and, unless mine_only, media that people
-- who befriended them share as friends-visible or public. Strangers' public media are not searched: public
-- means "anyone with the link", not "listed". Only the latest transcript and summary of each media count.
-- Ranked with ts_rank (title A > keywords B > summary C > transcript text and notes D); the snippet is made
-- only for the page returned, with marker characters (stripped from the text first) around each match.
WITH q AS (
    SELECT CASE WHEN %(prefix)s::text IS NULL THEN websearch_to_tsquery('simple', %(q)s)
                ELSE websearch_to_tsquery('simple', %(head)s)
                     && to_tsquery('simple', quote_literal(%(prefix)s::text) || ':*')
           END AS query
),
readable AS (
    SELECT m.id, m.filename, m.owner_id = %(viewer_id)s AS is_owner
    FROM media m
    WHERE m.owner_id = %(viewer_id)s
       OR (NOT %(mine_only)s
           AND m.visibility IN ('friends', 'public')
           AND EXISTS (SELECT 1 FROM friendships f WHERE f.user_id = m.owner_id AND f.friend_id = %(viewer_id)s))
),
latest AS (
    SELECT DISTINCT ON (t.media_id) t.media_id, t.id AS transcript_id
    FROM transcripts t JOIN readable r ON r.id = t.media_id
    ORDER BY t.media_id, t.created_at DESC
),
latest_summary AS (
    SELECT DISTINCT ON (s.transcript_id) l.media_id, s.title, s.keywords, s.summary, s.search_tsv
    FROM summaries s JOIN latest l ON l.transcript_id = s.transcript_id
    ORDER BY s.transcript_id, s.created_at DESC
),
hits AS (
    SELECT l.media_id, 'segment' AS kind, s.idx AS segment_idx, s.start_s AS time_s, s.speaker, s.text AS body,
           ts_rank(s.search_tsv, q.query) AS rank
    FROM latest l JOIN transcript_segments s ON s.transcript_id = l.transcript_id CROSS JOIN q
    WHERE s.search_tsv @@ q.query
    UNION ALL
    SELECT ls.media_id, 'summary', NULL, NULL, NULL,
           concat_ws(' · ', ls.title, search_keywords_text(ls.keywords), ls.summary),
           ts_rank(ls.search_tsv, q.query)
    FROM latest_summary ls CROSS JOIN q
    WHERE ls.search_tsv @@ q.query
    UNION ALL
    SELECT a.media_id, 'note', a.after_segment, a.time_s, NULL, a.body, ts_rank(a.search_tsv, q.query)
    FROM annotations a JOIN readable r ON r.id = a.media_id CROSS JOIN q
    WHERE a.state = 'ready' AND a.search_tsv @@ q.query
),
page AS (
    SELECT * FROM hits
    ORDER BY rank DESC, media_id, time_s NULLS FIRST, kind, segment_idx
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT p.media_id, p.kind, p.segment_idx, p.time_s, p.speaker, p.rank, r.filename, r.is_owner, ls.title,
       sp.display_name AS speaker_name,
       -- A short text comes back whole (fragments would drop its edge punctuation), a long one in fragments.
       ts_headline('simple', translate(p.body, %(markers)s, ''), q.query,
                   CASE WHEN length(p.body) <= %(whole_chars)s THEN %(whole_options)s
                        ELSE %(headline_options)s END) AS snippet
FROM page p
JOIN readable r ON r.id = p.media_id
CROSS JOIN q
LEFT JOIN latest l ON l.media_id = p.media_id
LEFT JOIN latest_summary ls ON ls.media_id = p.media_id
LEFT JOIN transcript_speakers sp ON sp.transcript_id = l.transcript_id AND sp.label = p.speaker
ORDER BY p.rank DESC, p.media_id, p.time_s NULLS FIRST, p.kind, p.segment_idx

-- name: notes_segment_exists
SELECT 1 AS found FROM transcript_segments WHERE transcript_id = %(transcript_id)s AND idx = %(idx)s

-- ==== webhooks ====

-- name: webhook_lock_owner
-- Serialises one user's endpoint creations so concurrent requests cannot pass the per-user cap together.
SELECT id FROM users WHERE id = %(owner_id)s FOR UPDATE

-- name: webhook_count_endpoints
SELECT count(*) AS endpoints FROM webhook_endpoints WHERE owner_id = %(owner_id)s

-- name: webhook_insert_endpoint
INSERT INTO webhook_endpoints (owner_id, url, secret, events, description)
VALUES (%(owner_id)s, %(url)s, %(secret)s, %(events)s, %(description)s)
RETURNING id, url, events, description, created_at

-- name: webhook_list_endpoints
-- The caller's endpoints (never the secret) with how their deliveries stand.
SELECT e.id, e.url, e.events, e.description, e.created_at,
       count(d.id) FILTER (WHERE d.state = 'pending') AS pending,
       count(d.id) FILTER (WHERE d.state = 'failed') AS failed,
       max(d.last_attempt_at) AS last_attempt_at
FROM webhook_endpoints e
LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id
WHERE e.owner_id = %(owner_id)s
GROUP BY e.id
ORDER BY e.created_at, e.id

-- name: webhook_get_endpoint
SELECT id, url, events, description, created_at
FROM webhook_endpoints WHERE id = %(endpoint_id)s AND owner_id = %(owner_id)s

-- name: webhook_delete_endpoint
DELETE FROM webhook_endpoints WHERE id = %(endpoint_id)s AND owner_id = %(owner_id)s RETURNING id

-- name: webhook_list_deliveries
-- Newest first, each with its attempt log (or just one delivery, by id).
SELECT d.id, d.event, d.task_id, d.state, d.attempts, d.next_attempt_at, d.last_attempt_at,
       d.last_status_code, d.last_error, d.created_at, d.finished_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                     'attempt', a.attempt, 'status_code', a.status_code, 'error', a.error,
                     'duration_ms', a.duration_ms, 'at', a.created_at) ORDER BY a.attempt)
                 FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS log
FROM webhook_deliveries d
WHERE d.endpoint_id = %(endpoint_id)s AND (%(delivery_id)s::uuid IS NULL OR d.id = %(delivery_id)s::uuid)
ORDER BY d.created_at DESC, d.id
LIMIT %(limit)s

-- name: webhook_insert_delivery
-- A delivery queued by the API (the test event); task events are queued by the tasks trigger (0009).
INSERT INTO webhook_deliveries (endpoint_id, event, task_id, payload)
VALUES (%(endpoint_id)s, %(event)s, %(task_id)s, %(payload)s)
RETURNING id

-- name: webhook_redeliver
-- The owner asks for one more attempt of a finished delivery, now.
UPDATE webhook_deliveries d SET state = 'pending', next_attempt_at = now(), finished_at = NULL
FROM webhook_endpoints e
WHERE d.id = %(delivery_id)s AND d.endpoint_id = %(endpoint_id)s AND e.id = d.endpoint_id
  AND e.owner_id = %(owner_id)s AND d.state <> 'pending'
RETURNING d.id

-- name: webhook_prune_finished
-- Retention: finished deliveries (and, by cascade, their attempts) older than the retention, a bounded
-- batch at a time so that one prune never holds many row locks.
-- The condition is repeated outside the subquery: a delivery the owner asks to send again between the two
-- is pending by then and must stay (Postgres re-checks only the outer WHERE on a row changed meanwhile).
DELETE FROM webhook_deliveries
WHERE id IN (
    SELECT id FROM webhook_deliveries
    WHERE state <> 'pending' AND finished_at < now() - make_interval(days => %(retention_days)s)
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
  AND state <> 'pending' AND finished_at < now() - make_interval(days => %(retention_days)s)

-- name: webhook_claim_due
-- Claims due deliveries for one dispatcher: SKIP LOCKED lets several gateways claim side by side, and the
-- lease (next_attempt_at pushed past the delivery timeout) hands a row whose dispatcher died mid-post to
-- another one later. The claim commits at once: no transaction stays open while an endpoint answers.
WITH due AS (
    SELECT id FROM webhook_deliveries
    WHERE state = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, last_attempt_at = now(),
    next_attempt_at = now() + make_interval(secs => %(lease_s)s)
FROM due, webhook_endpoints e
WHERE d.id = due.id AND e.id = d.endpoint_id
RETURNING d.id, d.event, d.attempts AS attempt, d.payload, e.url, e.secret, e.id AS endpoint_id

-- name: webhook_log_attempt
INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms)
VALUES (%(delivery_id)s, %(attempt)s, %(status_code)s, %(error)s, %(duration_ms)s)
ON CONFLICT DO NOTHING

-- name: webhook_finish_attempt
-- Only the claim of this attempt moves the row on (a lease taken over by another dispatcher has a higher
-- attempt number): state 'pending' schedules the next attempt, 'succeeded' / 'failed' end it.
UPDATE webhook_deliveries
SET state = %(state)s, last_status_code = %(status_code)s, last_error = %(error)s,
    next_attempt_at = CASE WHEN %(state)s = 'pending' THEN now() + make_interval(secs => %(retry_in_s)s) END,
    finished_at = CASE WHEN %(state)s = 'pending' THEN NULL ELSE now() END
WHERE id = %(delivery_id)s AND attempts = %(attempt)s AND state = 'pending'

-- ==== editor ====

-- name: record_media_thumbnail
-- The moderator stored a frame of an allowed video as a small JPEG under the media's keys.
UPDATE media SET thumbnail_key = %(thumbnail_key)s, updated_at = now() WHERE id = %(media_id)s

-- name: editor_list_media_for_owner
-- "My videos": newest first, keyset-paginated on (created_at, id); with the generated title, the thumbnail,
-- and why the latest task failed. `statuses` filters on the latest task's status (NEW: no task yet).
SELECT m.id, m.filename, m.created_at, m.duration_s, m.visibility, m.thumbnail_key, t.status, t.id AS task_id,
       t.error_code, t.error_message, s.title
FROM media m
LEFT JOIN LATERAL (
    SELECT id, status, error_code, error_message FROM tasks WHERE media_id = m.id ORDER BY created_at DESC LIMIT 1
) t ON true
LEFT JOIN LATERAL (
    SELECT su.title FROM transcripts tr JOIN summaries su ON su.transcript_id = tr.id
    WHERE tr.media_id = m.id ORDER BY tr.created_at DESC, su.created_at DESC LIMIT 1
) s ON true
WHERE m.owner_id = %(owner_id)s
  AND (%(before_created_at)s::timestamptz IS NULL OR (m.created_at, m.id) < (%(before_created_at)s, %(before_id)s))
  AND (%(statuses)s::text[] IS NULL OR COALESCE(t.status::text, 'NEW') = ANY (%(statuses)s::text[]))
ORDER BY m.created_at DESC, m.id DESC
LIMIT %(limit)s

-- name: editor_set_segment_speaker
-- Reassign one segment to one of the transcript's speakers. Returns the previous speaker.
UPDATE transcript_segments s SET speaker = %(speaker)s
FROM (SELECT speaker FROM transcript_segments
      WHERE transcript_id = %(transcript_id)s AND idx = %(idx)s FOR UPDATE) old
WHERE s.transcript_id = %(transcript_id)s AND s.idx = %(idx)s
  AND (%(speaker)s::text IS NULL  -- only an undo restores "no speaker" (what diarization left unassigned)
       OR EXISTS (SELECT 1 FROM transcript_speakers sp
                  WHERE sp.transcript_id = %(transcript_id)s AND sp.label = %(speaker)s::text))
RETURNING old.speaker AS old_speaker

-- name: editor_segment_exists
SELECT idx, speaker FROM transcript_segments WHERE transcript_id = %(transcript_id)s AND idx = %(idx)s

-- name: editor_edit_for_media
-- One edit of a media, locked so two undos of it cannot both pass the "not undone yet" check.
SELECT e.id, e.transcript_id, e.target, e.target_key, e.old_value, e.new_value,
       EXISTS (SELECT 1 FROM edits u WHERE u.undo_of = e.id) AS undone
FROM edits e WHERE e.id = %(edit_id)s AND e.media_id = %(media_id)s
FOR UPDATE OF e

-- name: editor_insert_edit
INSERT INTO edits (media_id, transcript_id, editor_id, target, target_key, old_value, new_value, undo_of)
VALUES (%(media_id)s, %(transcript_id)s, %(editor_id)s, %(target)s, %(target_key)s, %(old_value)s, %(new_value)s,
        %(undo_of)s)
RETURNING id

-- ==== voices ====

-- name: voice_store_speaker_embedding
UPDATE transcript_speakers SET embedding = %(embedding)s::real[], embedding_model = %(model)s
WHERE transcript_id = %(transcript_id)s AND label = %(label)s

-- name: voice_speakers_for_transcript
-- The speakers as readers see them: the name and, for an automatic one, which voice matched and how well.
SELECT label, display_name, name_source, voice_profile_id, voice_confidence
FROM transcript_speakers WHERE transcript_id = %(transcript_id)s ORDER BY label

-- name: voice_speaker_for_update
SELECT s.label, s.display_name, s.name_source, s.voice_profile_id, s.embedding, s.embedding_model, m.owner_id
FROM transcript_speakers s
JOIN transcripts t ON t.id = s.transcript_id
JOIN media m ON m.id = t.media_id
WHERE s.transcript_id = %(transcript_id)s AND s.label = %(label)s
FOR UPDATE OF s

-- name: voice_transcript_speakers_for_matching
-- Speakers with a voice and no name the user typed; the transcript's owner comes along for the profiles.
SELECT s.label, s.embedding, s.embedding_model, s.name_source, m.owner_id,
       COALESCE(array_agg(r.profile_id) FILTER (WHERE r.profile_id IS NOT NULL), '{}') AS rejected
FROM transcript_speakers s
JOIN transcripts t ON t.id = s.transcript_id
JOIN media m ON m.id = t.media_id
LEFT JOIN voice_rejections r ON r.transcript_id = s.transcript_id AND r.label = s.label
WHERE s.transcript_id = %(transcript_id)s AND s.embedding IS NOT NULL
  AND (s.name_source = 'voice' OR (s.name_source IS NULL AND s.display_name IS NULL))
GROUP BY s.label, s.embedding, s.embedding_model, s.name_source, m.owner_id
ORDER BY s.label

-- name: voice_lock_owner
-- Every change to one user's voices, and every match against them, holds this until its transaction ends
-- (see vidpipe.voices.lock_owner_voices).
SELECT pg_advisory_xact_lock(hashtextextended('vidpipe.voices:' || %(owner_id)s::text, 0))

-- name: voice_lock_owner_of_media
SELECT pg_advisory_xact_lock(hashtextextended('vidpipe.voices:' || owner_id::text, 0))
FROM media WHERE id = %(media_id)s

-- name: media_stage_runs_for_update
-- Deleting a media locks its stage runs before the owner's voice lock: a stage completing for it locks its
-- run first too (the transcriber then takes the voice lock to label speakers).
SELECT sr.task_id FROM stage_runs sr JOIN tasks t ON t.id = sr.task_id
WHERE t.media_id = %(media_id)s
ORDER BY sr.task_id, sr.stage
FOR UPDATE OF sr

-- name: voice_profiles_for_model
SELECT p.id, p.name, e.embedding
FROM voice_profiles p JOIN voice_embeddings e ON e.profile_id = p.id
WHERE p.owner_id = %(owner_id)s AND e.model = %(model)s
ORDER BY p.name

-- name: voice_set_auto_label
-- Only over no name or an earlier automatic one: a name the user typed is never overwritten.
UPDATE transcript_speakers
SET display_name = %(name)s, name_source = 'voice', voice_profile_id = %(profile_id)s,
    voice_confidence = %(confidence)s
WHERE transcript_id = %(transcript_id)s AND label = %(label)s
  AND (name_source = 'voice' OR (name_source IS NULL AND display_name IS NULL))
RETURNING label

-- name: voice_set_user_label
UPDATE transcript_speakers
SET name_source = %(name_source)s, voice_profile_id = %(profile_id)s, voice_confidence = NULL
WHERE transcript_id = %(transcript_id)s AND label = %(label)s

-- name: voice_clear_auto_label
-- Undo of an automatic label: back to the machine label, and the profile is not suggested there again.
WITH cleared AS (
    UPDATE transcript_speakers s
    SET display_name = NULL, name_source = NULL, voice_profile_id = NULL, voice_confidence = NULL
    FROM (SELECT display_name, voice_profile_id FROM transcript_speakers
          WHERE transcript_id = %(transcript_id)s AND label = %(label)s AND name_source = 'voice' FOR UPDATE) old
    WHERE s.transcript_id = %(transcript_id)s AND s.label = %(label)s
    RETURNING old.display_name AS old_name, old.voice_profile_id AS profile_id
), rejected AS (
    INSERT INTO voice_rejections (transcript_id, label, profile_id)
    SELECT %(transcript_id)s, %(label)s, profile_id FROM cleared WHERE profile_id IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT old_name, profile_id FROM cleared

-- name: voice_insert_profile
INSERT INTO voice_profiles (owner_id, name) VALUES (%(owner_id)s, %(name)s)
ON CONFLICT (owner_id, name) DO UPDATE SET updated_at = now()
RETURNING id

-- name: voice_embedding_for_update
SELECT embedding, samples FROM voice_embeddings
WHERE profile_id = %(profile_id)s AND model = %(model)s FOR UPDATE

-- name: voice_upsert_embedding
INSERT INTO voice_embeddings (profile_id, model, embedding, samples)
VALUES (%(profile_id)s, %(model)s, %(embedding)s::real[], %(samples)s)
ON CONFLICT (profile_id, model) DO UPDATE
SET embedding = EXCLUDED.embedding, samples = EXCLUDED.samples, updated_at = now()

-- name: voice_delete_embedding
DELETE FROM voice_embeddings WHERE profile_id = %(profile_id)s AND model = %(model)s

-- name: voice_clear_empty_profile_auto_labels
-- Before an empty profile goes: the speakers it named automatically get their machine labels back (the
-- foreign key would only unlink them and leave the name).
UPDATE transcript_speakers SET display_name = NULL, name_source = NULL, voice_confidence = NULL
WHERE voice_profile_id = %(profile_id)s AND name_source = 'voice'
  AND NOT EXISTS (SELECT 1 FROM voice_embeddings e WHERE e.profile_id = %(profile_id)s)

-- name: voice_delete_empty_profile
-- A profile whose last sample was taken back holds no voice any more.
DELETE FROM voice_profiles p
WHERE p.id = %(profile_id)s AND NOT EXISTS (SELECT 1 FROM voice_embeddings e WHERE e.profile_id = p.id)

-- name: voice_user_named_speakers_of_media
-- The voices a media's speakers gave their owner's profiles: taken back out before the media is deleted.
-- In profile order, so two deletes (or a delete and a rename) lock the profiles' embeddings in one order.
SELECT s.voice_profile_id, s.embedding, s.embedding_model
FROM transcript_speakers s
JOIN transcripts t ON t.id = s.transcript_id
WHERE t.media_id = %(media_id)s AND s.name_source = 'user' AND s.voice_profile_id IS NOT NULL
  AND s.embedding IS NOT NULL AND s.embedding_model IS NOT NULL
ORDER BY s.voice_profile_id, s.embedding_model
FOR UPDATE OF s

-- name: voice_list_profiles
SELECT p.id, p.name, p.created_at, p.updated_at,
       COALESCE(sum(e.samples), 0)::integer AS samples,
       COALESCE(array_agg(e.model ORDER BY e.model) FILTER (WHERE e.model IS NOT NULL), '{}') AS models,
       (SELECT count(*) FROM transcript_speakers s WHERE s.voice_profile_id = p.id)::integer AS speakers
FROM voice_profiles p LEFT JOIN voice_embeddings e ON e.profile_id = p.id
WHERE p.owner_id = %(owner_id)s
GROUP BY p.id
ORDER BY p.name

-- name: voice_rename_profile
UPDATE voice_profiles p SET name = %(name)s, updated_at = now()
FROM (SELECT name FROM voice_profiles WHERE id = %(profile_id)s AND owner_id = %(owner_id)s FOR UPDATE) old
WHERE p.id = %(profile_id)s AND p.owner_id = %(owner_id)s
RETURNING p.id, old.name AS old_name

-- name: voice_rename_profile_labels
-- The transcripts' speakers that carry the profile's old name follow the rename, each with an edit record.
WITH renamed AS (
    UPDATE transcript_speakers s SET display_name = %(name)s
    FROM transcripts t
    WHERE s.voice_profile_id = %(profile_id)s AND s.display_name = %(old_name)s AND t.id = s.transcript_id
    RETURNING t.media_id, s.transcript_id, s.label
)
INSERT INTO edits (media_id, transcript_id, editor_id, target, target_key, old_value, new_value)
SELECT media_id, transcript_id, %(editor_id)s, 'speaker_name', label, %(old_name)s, %(name)s FROM renamed

-- name: voice_clear_profile_auto_labels
-- Deleting a profile takes its automatic labels back to the machine labels; names users typed stay.
UPDATE transcript_speakers SET display_name = NULL, name_source = NULL, voice_confidence = NULL
WHERE voice_profile_id = %(profile_id)s AND name_source = 'voice'

-- name: voice_delete_profile
DELETE FROM voice_profiles WHERE id = %(profile_id)s AND owner_id = %(owner_id)s RETURNING id

-- name: voice_user_profiles
-- Profiles the user already put on a speaker of this transcript: no other speaker there can be them.
SELECT DISTINCT voice_profile_id FROM transcript_speakers
WHERE transcript_id = %(transcript_id)s AND name_source = 'user' AND voice_profile_id IS NOT NULL

-- name: voice_unset_auto_label
UPDATE transcript_speakers
SET display_name = NULL, name_source = NULL, voice_profile_id = NULL, voice_confidence = NULL
WHERE transcript_id = %(transcript_id)s AND label = %(label)s AND name_source = 'voice'

-- name: voice_profile_owned
SELECT id FROM voice_profiles WHERE id = %(profile_id)s AND owner_id = %(owner_id)s FOR UPDATE

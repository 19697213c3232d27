-- Named queries shared by the workers and the gateway. Parameters are psycopg named placeholders.

-- name: lock_task
-- Serialises claims on one task and tells the caller whether it still exists and is still live.
SELECT id, status, media_id FROM tasks WHERE id = %(task_id)s FOR UPDATE

-- name: claim_stage
-- Take the stage: a first delivery inserts; a retry or a stale claim (no heartbeat within the visibility
-- timeout) is taken over with a new claim token; anything else returns no row.
INSERT INTO stage_runs (task_id, stage, state, attempt, claim_token)
VALUES (%(task_id)s, %(stage)s, 'running', 1, %(claim_token)s)
ON CONFLICT (task_id, stage) DO UPDATE
    SET state = 'running',
        attempt = stage_runs.attempt + 1,
        claim_token = EXCLUDED.claim_token,
        claimed_at = now(),
        heartbeat_at = now(),
        started_at = now(),
        finished_at = NULL
    WHERE stage_runs.state = 'retrying'
       OR (stage_runs.state = 'running'
           AND stage_runs.heartbeat_at < now() - make_interval(secs => %(stale_after_s)s))
RETURNING attempt

-- name: get_stage_run
SELECT state, attempt, claim_token, heartbeat_at, next_message, handed_off_at
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

-- name: mark_handed_off
UPDATE stage_runs SET handed_off_at = now() WHERE task_id = %(task_id)s AND stage = %(stage)s

-- name: retry_stage
UPDATE stage_runs SET state = 'retrying', finished_at = now()
WHERE task_id = %(task_id)s AND stage = %(stage)s AND claim_token = %(claim_token)s AND state = 'running'
RETURNING attempt

-- name: fail_stage
UPDATE stage_runs SET state = 'failed', finished_at = now()
WHERE task_id = %(task_id)s AND stage = %(stage)s
RETURNING attempt

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

-- name: get_owned_media_by_key
SELECT id, owner_id, object_key, filename, content_type, size_bytes, upload_id, uploaded_at
FROM media WHERE object_key = %(object_key)s AND owner_id = %(owner_id)s

-- name: get_owned_media
SELECT id, owner_id, object_key, filename, content_type, size_bytes, upload_id, uploaded_at
FROM media WHERE id = %(media_id)s AND owner_id = %(owner_id)s

-- name: confirm_upload
UPDATE media SET size_bytes = %(size_bytes)s, content_type = %(content_type)s, uploaded_at = now(),
    upload_id = NULL, updated_at = now()
WHERE id = %(media_id)s

-- name: insert_task
INSERT INTO tasks (media_id, status, first_stage, options, trace_id)
VALUES (%(media_id)s, 'PENDING', %(first_stage)s, %(options)s, %(trace_id)s)
RETURNING id

-- name: mark_task_queued
UPDATE tasks SET status = 'UPLOAD_COMPLETE', current_stage = %(stage)s, updated_at = now()
WHERE id = %(task_id)s AND status = 'PENDING'

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

-- name: live_task_for_media
SELECT id FROM tasks WHERE media_id = %(media_id)s AND status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')

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

-- name: get_owned_media_summary
SELECT id, filename, content_type, size_bytes, duration_s, visibility, created_at
FROM media WHERE id = %(media_id)s AND owner_id = %(owner_id)s

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

-- name: get_readable_media
-- Who may read a media: its owner; anyone, if public; the owner's friends, if friends-visible.
-- viewer_id is NULL for an anonymous reader, who sees public media only.
SELECT m.id, m.owner_id, m.object_key, m.filename, m.content_type, m.size_bytes, m.duration_s, m.visibility,
       m.created_at, m.owner_id = %(viewer_id)s AS is_owner
FROM media m
WHERE m.id = %(media_id)s
  AND (m.owner_id = %(viewer_id)s
       OR m.visibility = 'public'
       OR (m.visibility = 'friends' AND EXISTS (
               SELECT 1 FROM friendships f WHERE f.user_id = m.owner_id AND f.friend_id = %(viewer_id)s)))

-- name: list_media_for_owner
-- Newest first, keyset-paginated on (created_at, id) so pages stay stable while uploads arrive.
SELECT m.id, m.filename, m.created_at, m.duration_s, m.visibility, t.status, t.id AS task_id
FROM media m
LEFT JOIN LATERAL (
    SELECT id, status FROM tasks WHERE media_id = m.id ORDER BY created_at DESC LIMIT 1
) t ON true
WHERE m.owner_id = %(owner_id)s
  AND (%(before_created_at)s::timestamptz IS NULL OR (m.created_at, m.id) < (%(before_created_at)s, %(before_id)s))
ORDER BY m.created_at DESC, m.id DESC
LIMIT %(limit)s

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
SELECT e.id, e.target, e.target_key, e.old_value, e.new_value, e.created_at, u.subject AS editor
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

-- ==== durable ====

-- name: sweep_unfinished_tasks
-- Unfinished tasks that showed no sign of life (task update, claim heartbeat, stage finish, event) for
-- idle_s seconds, with the current stage's claim not completed or failed. `stage` is the stage whose
-- message the task waits for; `outbox` is the previous stage's committed next message, if any.
SELECT t.id AS task_id, t.media_id, t.status, t.first_stage, t.trace_id, t.options,
       COALESCE(t.current_stage, t.first_stage) AS stage, m.object_key, r.state AS run_state,
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

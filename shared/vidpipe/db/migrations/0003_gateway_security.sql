-- Gateway: one live task per media, the moderated object pinned to a server-owned key, an upload ledger for
-- per-user daily quotas.
-- depends: 0001_initial_schema

-- A media has at most one live task. Two concurrent start-processing requests used to both find "no live
-- task" and both insert; now the second insert fails on this index and the gateway answers 409. Older
-- duplicates (possible before this index) are failed first, keeping the newest live task of each media.
UPDATE tasks t
SET status = 'FAILED', error_code = 'superseded',
    error_message = 'another task of the same media was started at the same time', finished_at = now(),
    updated_at = now()
WHERE t.status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')
  AND EXISTS (SELECT 1 FROM tasks newer
              WHERE newer.media_id = t.media_id
                AND newer.status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING')
                AND (newer.created_at, newer.id) > (t.created_at, t.id));
CREATE UNIQUE INDEX tasks_one_live_per_media ON tasks (media_id)
    WHERE status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING');

-- The object every stage reads and every viewer is served: a server-side copy of the upload under
-- media/<id>/source/<task>/, a key the client never gets a URL for. The client-writable upload object is
-- deleted once copied, so a still-valid presigned PUT cannot change what was moderated. NULL until the
-- first start-processing pinned it.
ALTER TABLE media ADD COLUMN source_key text;
-- Media processed before this migration keep serving their upload object: its presigned PUT expired long ago.
UPDATE media SET source_key = object_key WHERE uploaded_at IS NOT NULL;

-- Reservations count against the daily quotas even after the media is deleted (deleting refunds nothing).
CREATE TABLE upload_ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    media_id    uuid NOT NULL,
    size_bytes  bigint NOT NULL CHECK (size_bytes >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_ledger_user_created_idx ON upload_ledger (user_id, created_at);

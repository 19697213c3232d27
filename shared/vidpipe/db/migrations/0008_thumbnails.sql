-- The editor round: a thumbnail per media (a frame the moderator already decoded, stored as a small JPEG
-- under the media's own keys) and edit-history rows for speaker reassignment and undo.
-- depends: 0001_initial_schema

-- The object key of the thumbnail; the gateway serves it through a presigned GET to readers of the media.
ALTER TABLE media ADD COLUMN thumbnail_key text;

-- A segment moved to another speaker is an edit like a text correction; an undo is an edit too, and names the
-- edit it reverted so the history can show it.
ALTER TABLE edits DROP CONSTRAINT IF EXISTS edits_target_check;
ALTER TABLE edits ADD CONSTRAINT edits_target_check
    CHECK (target IN ('segment_text', 'segment_speaker', 'speaker_name', 'visibility'));
ALTER TABLE edits ADD COLUMN undo_of bigint REFERENCES edits (id) ON DELETE SET NULL;

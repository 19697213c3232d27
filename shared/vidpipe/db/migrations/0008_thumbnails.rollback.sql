ALTER TABLE edits DROP COLUMN IF EXISTS undo_of;
DELETE FROM edits WHERE target = 'segment_speaker';
ALTER TABLE edits DROP CONSTRAINT IF EXISTS edits_target_check;
ALTER TABLE edits ADD CONSTRAINT edits_target_check
    CHECK (target IN ('segment_text', 'speaker_name', 'visibility'));
ALTER TABLE media DROP COLUMN IF EXISTS thumbnail_key;

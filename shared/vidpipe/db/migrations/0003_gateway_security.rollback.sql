DROP TABLE IF EXISTS upload_ledger;
ALTER TABLE media DROP COLUMN IF EXISTS source_key;
DROP INDEX IF EXISTS tasks_one_live_per_media;

DROP TABLE IF EXISTS dead_letters;
ALTER TABLE stage_runs DROP COLUMN IF EXISTS claim_message_id;

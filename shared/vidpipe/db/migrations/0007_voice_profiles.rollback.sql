DROP TABLE IF EXISTS voice_rejections;
ALTER TABLE transcript_speakers
    DROP COLUMN IF EXISTS voice_confidence,
    DROP COLUMN IF EXISTS voice_profile_id,
    DROP COLUMN IF EXISTS name_source,
    DROP COLUMN IF EXISTS embedding_model,
    DROP COLUMN IF EXISTS embedding;
DROP TABLE IF EXISTS voice_embeddings;
DROP TABLE IF EXISTS voice_profiles;

DROP INDEX IF EXISTS moderation_results_media_idx;

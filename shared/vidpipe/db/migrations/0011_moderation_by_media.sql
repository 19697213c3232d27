-- Every read of a media now asks for its latest moderation verdict (only an allowed video plays for anyone
-- but its owner); this index answers that without reading every task's verdict.
-- depends: 0001_initial_schema

CREATE INDEX moderation_results_media_idx ON moderation_results (media_id, created_at DESC);

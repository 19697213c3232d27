DROP INDEX IF EXISTS annotations_search_idx;
ALTER TABLE annotations DROP COLUMN IF EXISTS search_tsv;
DROP INDEX IF EXISTS summaries_search_idx;
ALTER TABLE summaries DROP COLUMN IF EXISTS search_tsv;
DROP INDEX IF EXISTS transcript_segments_search_idx;
ALTER TABLE transcript_segments DROP COLUMN IF EXISTS search_tsv;
DROP FUNCTION IF EXISTS search_keywords_text(text[]);

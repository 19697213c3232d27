-- Full-text search over transcripts, summaries (title, keywords, text) and notes.
-- depends: 0001_initial_schema 0005_annotations

-- One text-search configuration for every row: 'simple' (lower-cases, no stemming, no stop words).
--  * A library mixes languages (Whisper detects ~100, PostgreSQL has stemmers for ~30) and one search runs
--    over all of them: a per-language configuration would need the query parsed once per language and
--    would miss text whose detected language was wrong.
--  * Names, keywords and jargon — most of what people search transcripts for — must not be stemmed.
--  * The search adds prefix matching on the last word typed, which recovers most of what stemming would
--    (welcom -> welcome, welcomed).
-- Stored generated columns keep the query and the index on one expression that cannot drift apart.
ALTER TABLE transcript_segments
    ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, text)) STORED;
CREATE INDEX transcript_segments_search_idx ON transcript_segments USING gin (search_tsv);

-- array_to_string is only STABLE in general (element output functions may depend on settings); for text[]
-- it is immutable, which a generated column requires.
CREATE FUNCTION search_keywords_text(keywords text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN array_to_string(keywords, ' ');

-- Title weighs most (A), then keywords (B), then the summary text (C); transcript text and notes are D.
ALTER TABLE summaries
    ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, search_keywords_text(keywords)), 'B')
        || setweight(to_tsvector('simple'::regconfig, summary), 'C')
    ) STORED;
CREATE INDEX summaries_search_idx ON summaries USING gin (search_tsv);

ALTER TABLE annotations
    ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, body)) STORED;
CREATE INDEX annotations_search_idx ON annotations USING gin (search_tsv);

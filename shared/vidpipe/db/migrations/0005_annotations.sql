-- Annotations: notes and images a media's owner pins to a moment of the transcript.
-- depends: 0001_initial_schema

-- They belong to the media, not to one transcript: a reprocessed video gets a new transcript, and the notes
-- (placed by time) stay with it. `after_segment` optionally places one between two segments; it is a hint
-- for display, the time is what counts.
CREATE TABLE annotations (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    media_id       uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    author_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    kind           text NOT NULL CHECK (kind IN ('note', 'image')),
    time_s         double precision NOT NULL CHECK (time_s >= 0),
    after_segment  integer CHECK (after_segment >= 0),
    body           text NOT NULL DEFAULT '',      -- a note's text, or an image's caption
    -- An image: reserved (`pending`, a presigned PUT handed out) until the gateway HEADs the upload, copies
    -- it to a server-owned key and checks it (`ready`); only ready images are shown or exported.
    state          text NOT NULL DEFAULT 'ready' CHECK (state IN ('pending', 'ready')),
    upload_key     text,                          -- where the client PUTs the image (client-writable)
    image_key      text,                          -- the checked copy, the only object ever served
    content_type   text,
    size_bytes     bigint CHECK (size_bytes > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'image' OR (body <> '' AND upload_key IS NULL AND image_key IS NULL AND state = 'ready')),
    CHECK (kind = 'note' OR (upload_key IS NOT NULL AND content_type IS NOT NULL AND size_bytes IS NOT NULL)),
    CHECK (state = 'pending' OR kind = 'note' OR image_key IS NOT NULL)
);
CREATE INDEX annotations_media_time_idx ON annotations (media_id, time_s, created_at);

-- Voice profiles: a user names a speaker once, later recordings of that voice are labelled by themselves.
-- depends: 0004_unfinished_tasks_index

-- One remembered voice of one user. Never shared: every read and write is scoped by owner_id.
CREATE TABLE voice_profiles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, name)
);

-- The voice in one embedding model's space: vectors of different models are never compared, so a profile
-- holds one row per model it was enrolled with. `embedding` is the mean of the unit vectors of the
-- `samples` speakers named so (normalised when compared), so one sample can be taken out again exactly.
CREATE TABLE voice_embeddings (
    profile_id  uuid NOT NULL REFERENCES voice_profiles (id) ON DELETE CASCADE,
    model       text NOT NULL,
    embedding   real[] NOT NULL,
    samples     integer NOT NULL CHECK (samples >= 1),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, model)
);

-- Each transcript speaker keeps its voice (the centroid of its diarizer windows) and where its name came
-- from: 'user' typed it (and the voice went into voice_profile_id's profile), 'voice' means the profile
-- matched it automatically with voice_confidence (cosine similarity).
ALTER TABLE transcript_speakers
    ADD COLUMN embedding        real[],
    ADD COLUMN embedding_model  text,
    ADD COLUMN name_source      text CHECK (name_source IN ('user', 'voice')),
    ADD COLUMN voice_profile_id uuid REFERENCES voice_profiles (id) ON DELETE SET NULL,
    ADD COLUMN voice_confidence real;

-- An automatic label the user undid: that profile is never suggested again for that speaker.
CREATE TABLE voice_rejections (
    transcript_id  uuid NOT NULL,
    label          text NOT NULL,
    profile_id     uuid NOT NULL REFERENCES voice_profiles (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transcript_id, label, profile_id),
    FOREIGN KEY (transcript_id, label) REFERENCES transcript_speakers (transcript_id, label) ON DELETE CASCADE
);

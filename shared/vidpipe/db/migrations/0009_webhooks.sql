-- Webhooks: per-user endpoints that receive signed task.completed / task.failed / task.rejected events.
-- The events come from the database itself: a trigger on tasks writes one delivery row per subscribed
-- endpoint in the very transaction that makes a task terminal, so no worker changes and no event is lost
-- between "task finished" and "event queued". The gateway's dispatcher claims due rows and posts them.
-- depends: 0001_initial_schema

CREATE TABLE webhook_endpoints (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url          text NOT NULL,
    -- The signing key ("whsec_" + base64). Kept as is because HMAC needs the key itself; the API shows it
    -- once, at creation, and never logs it.
    secret       text NOT NULL,
    events       text[] NOT NULL CHECK (cardinality(events) > 0
                     AND events <@ ARRAY['task.completed', 'task.failed', 'task.rejected']),
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_owner_idx ON webhook_endpoints (owner_id, created_at);

-- One event for one endpoint. state:
--   pending    waiting for its next attempt at next_attempt_at (a claimed row's next_attempt_at is pushed
--              past the delivery timeout, so a dispatcher that dies mid-post leaves it due again: a lease)
--   succeeded  the endpoint answered 2xx
--   failed     every attempt failed (the last error stays in last_error)
-- task_id has no foreign key on purpose: an event outlives the media it reports (delete right after
-- completion and the "completed" webhook still goes out).
CREATE TABLE webhook_deliveries (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),  -- also the webhook-id header
    endpoint_id       uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event             text NOT NULL,
    task_id           uuid,
    payload           jsonb NOT NULL,
    state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz DEFAULT now(),
    last_attempt_at   timestamptz,
    last_status_code  integer,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);

-- The delivery log: one row per attempt, what the endpoint answered or why it could not be reached.
CREATE TABLE webhook_attempts (
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    status_code  integer,
    error        text,
    duration_ms  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (delivery_id, attempt)
);

-- The outbox: a task that becomes COMPLETED, FAILED or REJECTED queues one delivery per endpoint of the
-- media's owner that asked for that event. The payload follows the Standard Webhooks shape
-- {type, timestamp, data}. A task reopened by `vidpipe dlq redrive` that ends again reports again.
CREATE FUNCTION webhook_task_finished() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event_type text := 'task.' || lower(NEW.status::text);
BEGIN
    INSERT INTO webhook_deliveries (endpoint_id, event, task_id, payload)
    SELECT e.id, event_type, NEW.id, jsonb_build_object(
        'type', event_type,
        'timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'data', jsonb_build_object(
            'task_id', NEW.id,
            'media_id', NEW.media_id,
            'status', NEW.status,
            'stage', NEW.current_stage,
            'error_code', NEW.error_code,
            'error_message', NEW.error_message,
            'flagged', NEW.flagged,
            'created_at', NEW.created_at,
            'finished_at', NEW.finished_at))
    FROM media m
    JOIN webhook_endpoints e ON e.owner_id = m.owner_id
    WHERE m.id = NEW.media_id AND event_type = ANY (e.events);
    RETURN NULL;
END;
$$;
CREATE TRIGGER tasks_webhook_outbox AFTER UPDATE OF status ON tasks
    FOR EACH ROW
    WHEN (NEW.status IN ('COMPLETED', 'FAILED', 'REJECTED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_task_finished();

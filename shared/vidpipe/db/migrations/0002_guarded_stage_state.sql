-- Guarded stage state: which SQS message holds a claim, and which dead letters were already handled.
-- depends: 0001_initial_schema

-- The SQS message id of the delivery that holds the claim. A second message for the same stage (a re-send)
-- can then be told apart from a redelivery of the holder's own message: the former is dropped at once
-- while the claim is live, instead of being hidden again and again until the redrive policy dead-letters it.
ALTER TABLE stage_runs ADD COLUMN claim_message_id text;

-- Dead letters a worker has already looked at. The messages stay visible in the DLQ (so the alarm on its
-- depth fires and an operator can redrive them); this table keeps each one from being acted on twice.
--   outcome: task_failed   the task's stage was abandoned, so the task was FAILED with a reason
--            left_alone    the stage was live or completed elsewhere: nothing to fail
--            unreadable    a poison body the consumer copied here itself
--            redriven      an operator sent it back to its queue (`vidpipe dlq redrive`)
CREATE TABLE dead_letters (
    message_id  text PRIMARY KEY,
    stage       stage NOT NULL,
    task_id     uuid,
    outcome     text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    body        text NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    redriven_at timestamptz
);
CREATE INDEX dead_letters_task ON dead_letters (task_id);

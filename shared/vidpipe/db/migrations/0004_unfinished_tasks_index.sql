-- The sweeper (vidpipe.reconciler) looks for unfinished tasks on every pass: keep that a small index scan
-- however many finished tasks accumulate.
-- depends: 0001_initial_schema
CREATE INDEX tasks_unfinished_idx ON tasks (created_at)
    WHERE status IN ('PENDING', 'UPLOAD_COMPLETE', 'PROCESSING');

DROP INDEX IF EXISTS tasks_unfinished_idx;

DROP TRIGGER IF EXISTS tasks_webhook_outbox ON tasks;
DROP FUNCTION IF EXISTS webhook_task_finished();
DROP TABLE IF EXISTS webhook_attempts;
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhook_endpoints;

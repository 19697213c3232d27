-- Webhook delivery retention: finished deliveries older than WEBHOOK_RETENTION_DAYS are pruned by the
-- dispatcher; this index lets it find them without reading the whole delivery log.
-- depends: 0009_webhooks

CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (finished_at) WHERE state <> 'pending';

-- Note images count toward the daily upload bytes like videos (one user could otherwise store 10 MiB images
-- without limit); only videos count toward the daily number of uploads.
-- depends: 0003_gateway_security

ALTER TABLE upload_ledger ADD COLUMN kind text NOT NULL DEFAULT 'media' CHECK (kind IN ('media', 'image'));

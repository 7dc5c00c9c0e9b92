-- Signed webhooks. The signing secret is per tenant, created on first use; a rotation keeps the
-- replaced secret (previous_secret) signing beside the new one until previous_until (ISO instant).
-- The secret is stored as issued because signing needs it (HMAC), unlike API keys.
CREATE TABLE webhook_secrets (
  tenant           TEXT PRIMARY KEY,
  secret           TEXT NOT NULL,
  previous_secret  TEXT,
  previous_until   TEXT,
  created_at       TEXT NOT NULL
);

-- A collection's webhook ({ url, events } as JSON) for its runs; a run pins the one it started with
-- (the collection's, or POST /run's own), so the cron's backstop starting the run from its row and
-- a later PUT of the collection both leave the run's webhook as it was.
ALTER TABLE collections ADD COLUMN webhook TEXT;
ALTER TABLE runs ADD COLUMN webhook TEXT;

-- Per-host politeness (API.md, "Request options and politeness"): a collection's settings, used by
-- its runs unless POST /run passes its own, and the settings each run started with.
ALTER TABLE collections ADD COLUMN per_host_concurrency INTEGER NOT NULL DEFAULT 6;
ALTER TABLE collections ADD COLUMN per_host_delay_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN per_host_concurrency INTEGER NOT NULL DEFAULT 6;
ALTER TABLE runs ADD COLUMN per_host_delay_ms INTEGER NOT NULL DEFAULT 0;

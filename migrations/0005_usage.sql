-- A tenant's usage per UTC day (GET /v1/usage), kept 90 days. Written by the run objects' D1
-- syncs (a few per run, not per job), in the same batch as the run row, with the difference
-- between the run's new absolute counters and what its row had.
CREATE TABLE usage_days (
  tenant        TEXT NOT NULL,
  day           TEXT NOT NULL,  -- YYYY-MM-DD (UTC)
  success       INTEGER NOT NULL DEFAULT 0,
  failed        INTEGER NOT NULL DEFAULT 0,
  timeout       INTEGER NOT NULL DEFAULT 0,
  fetch_jobs    INTEGER NOT NULL DEFAULT 0,
  browser_jobs  INTEGER NOT NULL DEFAULT 0,
  browser_ms    INTEGER NOT NULL DEFAULT 0,
  bytes_stored  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, day)
) WITHOUT ROWID;
-- The sweep's deletion of days past retention.
CREATE INDEX usage_days_by_day ON usage_days (day);

-- What each run has contributed to usage besides its counters (the same values as its object's,
-- as of the last sync).
ALTER TABLE runs ADD COLUMN fetch_jobs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN browser_jobs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN browser_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN bytes_stored INTEGER NOT NULL DEFAULT 0;

-- DELETE of a collection marks it here (every URL under it answers 404 from then on); the cron
-- then deletes its runs, their objects and bodies, its request lists and finally this row.
ALTER TABLE collections ADD COLUMN deleted_at TEXT;
CREATE INDEX collections_deleting ON collections (deleted_at) WHERE deleted_at IS NOT NULL;

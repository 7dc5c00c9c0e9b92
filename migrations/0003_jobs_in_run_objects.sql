-- Job rows move into each run's Durable Object (its job store): D1 keeps keys, collections, their
-- request lists and one row per run, so it grows with collections and runs, not with jobs.
-- A breaking storage change made before the first deployment: jobs of earlier local runs are dropped.
DROP INDEX IF EXISTS jobs_by_created;
DROP INDEX IF EXISTS jobs_by_completed;
DROP TABLE jobs;

-- Request lists are versioned: PUT writes a new version, and a run pins the version it started
-- with, so a run in progress (whose object copies the list in pages) never sees a replaced list.
CREATE TABLE requests_v (
  collection_id  TEXT NOT NULL,
  version        INTEGER NOT NULL,
  seq            INTEGER NOT NULL,
  url            TEXT NOT NULL,
  custom_id      TEXT,
  browser        INTEGER NOT NULL,
  spec           TEXT NOT NULL,
  PRIMARY KEY (collection_id, version, seq)
) WITHOUT ROWID;
INSERT INTO requests_v SELECT collection_id, 1, seq, url, custom_id, browser, spec FROM requests;
DROP TABLE requests;
ALTER TABLE requests_v RENAME TO requests;
ALTER TABLE collections ADD COLUMN requests_version INTEGER NOT NULL DEFAULT 1;

-- A run pins its request list; synced_at is when its object last wrote the row (the cron's
-- backstop looks at in-progress runs whose object has gone quiet). Deadlines are per job now
-- (leases held by the run's object), so the run-level deadline goes.
ALTER TABLE runs ADD COLUMN requests_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN synced_at TEXT;
DROP INDEX runs_overdue;
ALTER TABLE runs DROP COLUMN deadline_at;
CREATE INDEX runs_quiet ON runs (synced_at) WHERE status = 'in_progress';

-- Tenants are identified by the string on their API keys; a key is stored only as its SHA-256.
CREATE TABLE api_keys (
  key_id      TEXT PRIMARY KEY,
  tenant      TEXT NOT NULL,
  name        TEXT,
  key_hash    TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL,
  revoked_at  TEXT
);

CREATE TABLE collections (
  id              TEXT PRIMARY KEY,
  tenant          TEXT NOT NULL,
  name            TEXT NOT NULL,
  total_requests  INTEGER NOT NULL,
  -- What a run's deadline is derived from, kept so starting a run reads one row.
  browser_requests INTEGER NOT NULL,
  max_timeout_ms  INTEGER NOT NULL,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
-- Listing a tenant's collections newest first, keyset on (created_at, id).
CREATE INDEX collections_by_tenant ON collections (tenant, created_at DESC, id DESC);

-- The request list of a collection, in submission order. `spec` holds the options a job needs
-- (screenshot, actions, timeout, ...) as JSON, copied verbatim into each run's jobs.
CREATE TABLE requests (
  collection_id  TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  url            TEXT NOT NULL,
  custom_id      TEXT,
  browser        INTEGER NOT NULL,
  spec           TEXT NOT NULL,
  PRIMARY KEY (collection_id, seq)
) WITHOUT ROWID;

-- Counters here are written by the run's Durable Object together with the job rows, so a list of
-- runs shows the same numbers as the live status.
CREATE TABLE runs (
  id                 TEXT PRIMARY KEY,
  tenant             TEXT NOT NULL,
  collection_id      TEXT NOT NULL,
  status             TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'cancelled')),
  total_requests     INTEGER NOT NULL,
  success_requests   INTEGER NOT NULL DEFAULT 0,
  failed_requests    INTEGER NOT NULL DEFAULT 0,
  timeout_requests   INTEGER NOT NULL DEFAULT 0,
  created_at         TEXT NOT NULL,
  completed_at       TEXT,
  deadline_at        TEXT NOT NULL
);
CREATE INDEX runs_by_collection ON runs (collection_id, created_at DESC, id DESC);
-- In-flight cap and retention sweep.
CREATE INDEX runs_by_tenant_status ON runs (tenant, status);
-- The cron's backstop for runs past their deadline.
CREATE INDEX runs_overdue ON runs (deadline_at) WHERE status = 'in_progress';
CREATE INDEX runs_by_completion ON runs (completed_at) WHERE completed_at IS NOT NULL;

-- One row per request per run. job_id = a per-run random prefix + the request's position, so
-- (run_id, job_id) order is submission order.
CREATE TABLE jobs (
  job_id          TEXT PRIMARY KEY,
  run_id          TEXT NOT NULL,
  tenant          TEXT NOT NULL,
  collection_id   TEXT NOT NULL,
  seq             INTEGER NOT NULL,
  url             TEXT NOT NULL,
  custom_id       TEXT,
  browser         INTEGER NOT NULL,
  spec            TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'timeout')),
  status_code     INTEGER,
  final_url       TEXT,
  blocked_reason  TEXT,
  error           TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_at      TEXT NOT NULL,
  started_at      TEXT,
  completed_at    TEXT,
  queue_wait_ms   INTEGER,
  fetch_ms        INTEGER,
  render_ms       INTEGER,
  total_ms        INTEGER,
  -- The page lives in R2 at body_key, bytes [body_offset, body_offset + body_length): bodies of one
  -- recorded batch share one object (one class A operation per batch instead of per job).
  body_key        TEXT,
  body_offset     INTEGER,
  body_length     INTEGER,
  screenshot_key  TEXT,
  result_meta     TEXT
);
-- The two listing orders of API.md, each a keyset range scan whatever the run's size.
CREATE INDEX jobs_by_created ON jobs (run_id, created_at, job_id);
CREATE INDEX jobs_by_completed ON jobs (run_id, completed_at, job_id);

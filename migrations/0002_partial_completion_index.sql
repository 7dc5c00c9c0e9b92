-- Unfinished jobs have no completion instant and are never listed by it: indexing only finished
-- jobs saves an index write when a run's jobs are created and turns the one at completion into a
-- single insert (D1 bills rows written, index entries included; they are most of a job's cost).
DROP INDEX jobs_by_completed;
CREATE INDEX jobs_by_completed ON jobs (run_id, completed_at, job_id) WHERE completed_at IS NOT NULL;

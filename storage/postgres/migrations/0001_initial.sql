-- Initial schema (PostgreSQL). Times are Unix milliseconds (BIGINT); the
-- views add timestamptz columns for people. States are SMALLINT codes of the
-- nas.v1 enums, named by the trial_states / job_states tables.

CREATE TABLE trial_states (
  id   SMALLINT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
INSERT INTO trial_states VALUES
  (1, 'PENDING'), (2, 'LEASED'), (3, 'RUNNING'), (4, 'SUCCEEDED'),
  (5, 'FAILED'), (6, 'STOPPED_EARLY'), (7, 'CANCELLED');

CREATE TABLE job_states (
  id   SMALLINT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
INSERT INTO job_states VALUES
  (1, 'RUNNING'), (2, 'PAUSED'), (3, 'SUCCEEDED'), (4, 'CANCELLED'), (5, 'FAILED');

CREATE TABLE jobs (
  id                  TEXT PRIMARY KEY,
  name                TEXT NOT NULL,
  request_id          TEXT UNIQUE,
  state               SMALLINT NOT NULL CHECK (state BETWEEN 1 AND 5),  -- job_states
  spec                JSONB NOT NULL,
  -- The first two objectives of the spec (fixed for the job's life).
  primary_metric      TEXT NOT NULL DEFAULT '',
  primary_direction   SMALLINT NOT NULL DEFAULT 1,  -- 1 MAXIMIZE, 2 MINIMIZE
  secondary_metric    TEXT NOT NULL DEFAULT '',
  secondary_direction SMALLINT NOT NULL DEFAULT 1,
  message             TEXT NOT NULL DEFAULT '',
  create_time_ms      BIGINT NOT NULL,
  update_time_ms      BIGINT NOT NULL
);
CREATE INDEX jobs_by_create_time ON jobs (create_time_ms, id);

-- Trial counts by state, maintained in the same transaction as each trial
-- transition. Split into 32 shards (by trial id) so concurrent transitions of
-- one job rarely wait on the same row; a job's count is the sum of its shards.
CREATE TABLE job_trial_counts (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  shard         SMALLINT NOT NULL,
  pending       BIGINT NOT NULL DEFAULT 0,
  leased        BIGINT NOT NULL DEFAULT 0,
  running       BIGINT NOT NULL DEFAULT 0,
  succeeded     BIGINT NOT NULL DEFAULT 0,
  failed        BIGINT NOT NULL DEFAULT 0,
  stopped_early BIGINT NOT NULL DEFAULT 0,
  cancelled     BIGINT NOT NULL DEFAULT 0,
  cache_hits    BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, shard)
);

-- One row per distinct architecture (isomorphic genotypes share a hash).
CREATE TABLE architectures (
  id        BIGSERIAL PRIMARY KEY,
  hash      TEXT NOT NULL UNIQUE,
  canonical TEXT NOT NULL,
  genotype  JSONB NOT NULL,       -- nas.v1.Architecture as JSON
  params    BIGINT NOT NULL DEFAULT 0,
  macs      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE workers (
  id                 TEXT PRIMARY KEY,
  name               TEXT NOT NULL UNIQUE,
  device             TEXT NOT NULL,
  device_model       TEXT NOT NULL,
  threads            INTEGER NOT NULL,
  capabilities       TEXT NOT NULL,  -- comma-separated
  registered_time_ms BIGINT NOT NULL,
  last_seen_ms       BIGINT NOT NULL
);

CREATE TABLE trials (
  id                  BIGSERIAL PRIMARY KEY,
  job_id              TEXT NOT NULL REFERENCES jobs (id),
  architecture_id     BIGINT NOT NULL REFERENCES architectures (id),
  eval_key            TEXT NOT NULL,  -- hash of the evaluation config
  state               SMALLINT NOT NULL CHECK (state BETWEEN 1 AND 7),  -- trial_states
  attempt             INTEGER NOT NULL DEFAULT 1,
  lease_expirations   INTEGER NOT NULL DEFAULT 0,
  worker_id           TEXT,           -- workers.id of the current/last attempt
  lease_deadline_ms   BIGINT,
  create_time_ms      BIGINT NOT NULL,
  start_time_ms       BIGINT,         -- lease of the current/last attempt
  end_time_ms         BIGINT,
  -- Final metrics; the job's first two objectives are copied to columns so
  -- top-k and the Pareto front use indexes.
  metrics             JSONB,
  primary_objective   DOUBLE PRECISION,
  secondary_objective DOUBLE PRECISION,
  cache_hit           BOOLEAN NOT NULL DEFAULT FALSE,
  failure_reason      TEXT,           -- last failure, also when retried
  failure_message     TEXT
);
CREATE INDEX trials_by_job ON trials (job_id, id);
-- The lease queue: a job's oldest pending trial first (a requeued trial keeps
-- its creation time, so retries go first).
CREATE INDEX trials_pending ON trials (job_id, create_time_ms, id) WHERE state = 1;
CREATE INDEX trials_active_by_deadline ON trials (lease_deadline_ms) WHERE state IN (2, 3);
CREATE INDEX trials_by_objective ON trials (job_id, primary_objective)
  WHERE primary_objective IS NOT NULL;
CREATE INDEX trials_result_cache ON trials (architecture_id, eval_key) WHERE state = 4;

-- Per-step metrics reported while a trial runs (learning curves).
CREATE TABLE measurements (
  trial_id BIGINT NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  attempt  INTEGER NOT NULL,
  step     BIGINT NOT NULL,
  metric   TEXT NOT NULL,
  value    DOUBLE PRECISION,
  time_ms  BIGINT NOT NULL,
  PRIMARY KEY (trial_id, attempt, step, metric)
);

-- Inference latency of an architecture on a device (latest measurement).
CREATE TABLE device_latency (
  architecture_id BIGINT NOT NULL REFERENCES architectures (id),
  device          TEXT NOT NULL,
  batch_size      INTEGER NOT NULL,
  median_ms       DOUBLE PRECISION NOT NULL,
  p90_ms          DOUBLE PRECISION NOT NULL,
  threads         INTEGER NOT NULL,
  trial_id        BIGINT REFERENCES trials (id),
  PRIMARY KEY (architecture_id, device, batch_size)
);

-- Opaque strategy state, written with the trial transition that produced it.
CREATE TABLE strategy_snapshots (
  job_id         TEXT NOT NULL REFERENCES jobs (id),
  version        BIGINT NOT NULL,
  state          BYTEA NOT NULL,
  create_time_ms BIGINT NOT NULL,
  PRIMARY KEY (job_id, version)
);

-- Candidates of each job's Pareto front over its first two objectives:
-- a superset of the front, maintained at completion (a member is removed
-- when a dominating trial completes). The pareto_front view filters it.
CREATE TABLE pareto_members (
  job_id   TEXT NOT NULL REFERENCES jobs (id),
  trial_id BIGINT NOT NULL REFERENCES trials (id),
  PRIMARY KEY (job_id, trial_id)
);

CREATE VIEW trial_summary AS
SELECT t.id AS trial_id, t.job_id, j.name AS job_name, s.name AS state,
       t.attempt, t.worker_id, w.name AS worker_name,
       a.hash AS arch_hash, a.canonical, a.params, a.macs,
       j.primary_metric, t.primary_objective,
       j.secondary_metric, t.secondary_objective,
       t.metrics, t.cache_hit, t.failure_reason, t.failure_message,
       to_timestamp(t.create_time_ms / 1000.0) AS created,
       to_timestamp(t.start_time_ms / 1000.0) AS started,
       to_timestamp(t.end_time_ms / 1000.0) AS ended,
       (t.end_time_ms - t.start_time_ms) / 1000.0 AS seconds
FROM trials t
JOIN jobs j ON j.id = t.job_id
JOIN architectures a ON a.id = t.architecture_id
JOIN trial_states s ON s.id = t.state
LEFT JOIN workers w ON w.id = t.worker_id;

-- SUCCEEDED trials ranked within their job by the primary objective (1 = best).
CREATE VIEW best_trials AS
SELECT rank() OVER (PARTITION BY t.job_id ORDER BY
         CASE WHEN j.primary_direction = 2 THEN t.primary_objective
              ELSE -t.primary_objective END) AS rank,
       t.job_id, t.id AS trial_id, j.primary_metric, t.primary_objective,
       a.hash AS arch_hash, a.canonical, a.params, a.macs, t.metrics
FROM trials t
JOIN jobs j ON j.id = t.job_id
JOIN architectures a ON a.id = t.architecture_id
WHERE t.state = 4 AND t.primary_objective IS NOT NULL;

-- Each job's non-dominated SUCCEEDED trials over its first two objectives.
CREATE VIEW pareto_front AS
WITH m AS (
  SELECT pm.job_id, t.id AS trial_id, t.primary_objective, t.secondary_objective,
         CASE WHEN j.primary_direction = 2 THEN -t.primary_objective
              ELSE t.primary_objective END AS ga,
         CASE WHEN j.secondary_direction = 2 THEN -t.secondary_objective
              ELSE t.secondary_objective END AS gb
  FROM pareto_members pm
  JOIN trials t ON t.id = pm.trial_id
  JOIN jobs j ON j.id = pm.job_id
)
SELECT m.job_id, m.trial_id, m.primary_objective, m.secondary_objective
FROM m
WHERE NOT EXISTS (
  SELECT 1 FROM m AS o
  WHERE o.job_id = m.job_id AND o.ga >= m.ga AND o.gb >= m.gb
    AND (o.ga > m.ga OR o.gb > m.gb));

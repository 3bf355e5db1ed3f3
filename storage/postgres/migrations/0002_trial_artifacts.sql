-- Files a trial produced, kept outside the database (the controller's
-- --artifact_dir): today the trained weights ('weights'). One row per trial
-- and name, written by the attempt that uploaded it (fenced like every
-- trial write); `location` is relative to the artifact directory.
CREATE TABLE trial_artifacts (
  trial_id       BIGINT NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  name           TEXT NOT NULL,
  attempt        INTEGER NOT NULL,
  size_bytes     BIGINT NOT NULL,
  sha256         TEXT NOT NULL,
  location       TEXT NOT NULL,
  create_time_ms BIGINT NOT NULL,
  PRIMARY KEY (trial_id, name)
);

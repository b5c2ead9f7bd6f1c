-- koya's schema on PostgreSQL. Times are TIMESTAMPTZ. Documents koya itself
-- defines (specs, labels, params, exits) are JSONB; values carrying a user's
-- raw JSON (items, manifests, outputs, backend handles) are TEXT holding
-- JSON, so that they come back byte for byte, as on SQLite.

CREATE TABLE projects (
  name       TEXT PRIMARY KEY,
  spec       JSONB NOT NULL,
  labels     JSONB NOT NULL,
  version    BIGINT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE tokens (
  id         TEXT PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  subject    TEXT NOT NULL,
  admin      BOOLEAN NOT NULL,
  project    TEXT NOT NULL,
  attempt_id TEXT NOT NULL,
  expires_at TIMESTAMPTZ,
  revoked    BOOLEAN NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE workflow_versions (
  project    TEXT NOT NULL,
  name       TEXT NOT NULL,
  version    BIGINT NOT NULL,
  spec       JSONB NOT NULL,
  labels     JSONB NOT NULL,
  digest     TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project, name, version)
);

CREATE TABLE workflows (
  project    TEXT NOT NULL,
  name       TEXT NOT NULL,
  version    BIGINT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project, name),
  FOREIGN KEY (project, name, version) REFERENCES workflow_versions (project, name, version)
);

-- Run specs by content digest: runs of one workflow version share one row,
-- and a reader decodes each spec once.
CREATE TABLE run_specs (
  digest TEXT PRIMARY KEY,
  spec   JSONB NOT NULL
);

CREATE TABLE runs (
  seq              BIGSERIAL NOT NULL UNIQUE,
  id               TEXT PRIMARY KEY,
  project          TEXT NOT NULL,
  workflow         TEXT NOT NULL,
  workflow_version BIGINT NOT NULL,
  spec_digest      TEXT NOT NULL REFERENCES run_specs (digest),
  params           JSONB,
  phase            TEXT NOT NULL,
  message          TEXT NOT NULL,
  cancel_requested BOOLEAN NOT NULL,
  retry_of         TEXT NOT NULL,
  created_at       TIMESTAMPTZ NOT NULL,
  started_at       TIMESTAMPTZ,
  finished_at      TIMESTAMPTZ
);
CREATE INDEX runs_project ON runs (project, seq);
CREATE INDEX runs_workflow ON runs (project, workflow, seq);

CREATE TABLE steps (
  run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  position    INTEGER NOT NULL,
  phase       TEXT NOT NULL,
  expanded    BOOLEAN NOT NULL,
  items       INTEGER NOT NULL,
  message     TEXT NOT NULL,
  backend     TEXT NOT NULL,
  started_at  TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  PRIMARY KEY (run_id, name)
);

CREATE TABLE tasks (
  run_id      TEXT NOT NULL,
  step        TEXT NOT NULL,
  idx         INTEGER NOT NULL,
  item        TEXT,
  phase       TEXT NOT NULL,
  manifest    TEXT NOT NULL,
  cache_key   TEXT NOT NULL,
  attempts    INTEGER NOT NULL,
  retry_base  INTEGER NOT NULL,
  next_at     TIMESTAMPTZ,
  exit        JSONB,
  outputs     TEXT,
  message     TEXT NOT NULL,
  backend     TEXT NOT NULL,
  started_at  TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  PRIMARY KEY (run_id, step, idx),
  FOREIGN KEY (run_id, step) REFERENCES steps (run_id, name) ON DELETE CASCADE
);
-- A step's tasks of one phase in index order (ready tasks; counts).
CREATE INDEX tasks_step_phase ON tasks (run_id, step, phase, idx);
-- Retry due times: only tasks waiting out a backoff have a next_at.
CREATE INDEX tasks_retry ON tasks (run_id, next_at) WHERE next_at IS NOT NULL;

-- Task counts by (run, step, phase), kept by triggers: counting a large
-- fan-out's tasks on every planning round would scan them all. Inserts are
-- counted per statement (a multi-row INSERT adds its rows at once).
CREATE TABLE task_counts (
  run_id TEXT NOT NULL,
  step   TEXT NOT NULL,
  phase  TEXT NOT NULL,
  n      INTEGER NOT NULL,
  PRIMARY KEY (run_id, step, phase)
);

CREATE FUNCTION tasks_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_counts (run_id, step, phase, n)
    SELECT run_id, step, phase, count(*) FROM inserted GROUP BY run_id, step, phase
    ON CONFLICT (run_id, step, phase) DO UPDATE SET n = task_counts.n + excluded.n;
  RETURN NULL;
END
$$;

CREATE FUNCTION tasks_count_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE task_counts SET n = n - 1 WHERE run_id = OLD.run_id AND step = OLD.step AND phase = OLD.phase;
  IF TG_OP = 'UPDATE' THEN
    INSERT INTO task_counts (run_id, step, phase, n) VALUES (NEW.run_id, NEW.step, NEW.phase, 1)
      ON CONFLICT (run_id, step, phase) DO UPDATE SET n = task_counts.n + 1;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_counted AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_inserted();
CREATE TRIGGER tasks_recounted AFTER UPDATE OF phase ON tasks
  FOR EACH ROW WHEN (OLD.phase IS DISTINCT FROM NEW.phase) EXECUTE FUNCTION tasks_count_changed();
CREATE TRIGGER tasks_uncounted AFTER DELETE ON tasks
  FOR EACH ROW EXECUTE FUNCTION tasks_count_changed();

CREATE TABLE attempts (
  id           TEXT PRIMARY KEY,
  project      TEXT NOT NULL,
  run_id       TEXT NOT NULL,
  step         TEXT NOT NULL,
  idx          INTEGER NOT NULL,
  number       INTEGER NOT NULL,
  phase        TEXT NOT NULL,
  backend      TEXT NOT NULL,
  reason       TEXT NOT NULL,
  handle       TEXT,
  last_seq     BIGINT NOT NULL,
  exit         JSONB,
  outputs      TEXT,
  owner        TEXT NOT NULL,
  heartbeat_at TIMESTAMPTZ,
  deadline     TIMESTAMPTZ,
  created_at   TIMESTAMPTZ NOT NULL,
  started_at   TIMESTAMPTZ,
  finished_at  TIMESTAMPTZ,
  FOREIGN KEY (run_id, step, idx) REFERENCES tasks (run_id, step, idx) ON DELETE CASCADE
);
-- Active attempts, of every run or of one.
CREATE INDEX attempts_phase ON attempts (phase, run_id);

CREATE TABLE logs (
  id         BIGSERIAL PRIMARY KEY,
  attempt_id TEXT NOT NULL,
  run_id     TEXT NOT NULL,
  step       TEXT NOT NULL,
  idx        INTEGER NOT NULL,
  seq        BIGINT NOT NULL,
  stream     TEXT NOT NULL,
  logged_at  TIMESTAMPTZ NOT NULL,
  text       TEXT NOT NULL,
  UNIQUE (attempt_id, seq)
);
CREATE INDEX logs_run ON logs (run_id, id);
CREATE INDEX logs_task ON logs (run_id, step, idx, id);

CREATE TABLE wakeups (
  run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  due_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX wakeups_due ON wakeups (due_at);

CREATE TABLE step_cache (
  project    TEXT NOT NULL,
  cache_key  TEXT NOT NULL,
  outputs    TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project, cache_key)
);

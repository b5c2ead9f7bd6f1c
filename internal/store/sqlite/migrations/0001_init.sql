-- koya's schema on SQLite. Times are INTEGER microseconds since the Unix
-- epoch (UTC); JSON columns are TEXT holding JSON (NULL: no value). Tables
-- with small rows written on the hot path are WITHOUT ROWID (one b-tree
-- fewer to write per commit); secondary indexes are kept to what queries use.

CREATE TABLE projects (
  name       TEXT PRIMARY KEY,
  spec       TEXT NOT NULL,
  labels     TEXT NOT NULL,
  version    INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE tokens (
  id         TEXT PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  subject    TEXT NOT NULL,
  admin      INTEGER NOT NULL,
  project    TEXT NOT NULL,
  attempt_id TEXT NOT NULL,
  expires_at INTEGER,
  revoked    INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE workflow_versions (
  project    TEXT NOT NULL,
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  spec       TEXT NOT NULL,
  labels     TEXT NOT NULL,
  digest     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project, name, version)
);

CREATE TABLE workflows (
  project    TEXT NOT NULL,
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (project, name),
  FOREIGN KEY (project, name, version) REFERENCES workflow_versions (project, name, version)
);

-- Run specs by content digest: runs of one workflow version share one row,
-- and a reader decodes each spec once.
CREATE TABLE run_specs (
  digest TEXT PRIMARY KEY,
  spec   TEXT NOT NULL
);

CREATE TABLE runs (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT NOT NULL UNIQUE,
  project          TEXT NOT NULL,
  workflow         TEXT NOT NULL,
  workflow_version INTEGER NOT NULL,
  spec_digest      TEXT NOT NULL REFERENCES run_specs (digest),
  params           TEXT,
  phase            TEXT NOT NULL,
  message          TEXT NOT NULL,
  cancel_requested INTEGER NOT NULL,
  retry_of         TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER
);
CREATE INDEX runs_project ON runs (project, seq);
CREATE INDEX runs_workflow ON runs (project, workflow, seq);

CREATE TABLE steps (
  run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  position    INTEGER NOT NULL,
  phase       TEXT NOT NULL,
  expanded    INTEGER NOT NULL,
  items       INTEGER NOT NULL,
  message     TEXT NOT NULL,
  backend     TEXT NOT NULL,
  started_at  INTEGER,
  finished_at INTEGER,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;

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
  next_at     INTEGER,
  exit        TEXT,
  outputs     TEXT,
  message     TEXT NOT NULL,
  backend     TEXT NOT NULL,
  started_at  INTEGER,
  finished_at INTEGER,
  PRIMARY KEY (run_id, step, idx),
  FOREIGN KEY (run_id, step) REFERENCES steps (run_id, name) ON DELETE CASCADE
);
-- A step's tasks of one phase in index order (ready tasks; counts).
CREATE INDEX tasks_step_phase ON tasks (run_id, step, phase, idx);
-- Retry due times: only tasks waiting out a backoff have a next_at.
CREATE INDEX tasks_retry ON tasks (run_id, next_at) WHERE next_at IS NOT NULL;

-- Task counts by (run, step, phase), kept by triggers: counting a large
-- fan-out's tasks on every planning round would scan them all.
CREATE TABLE task_counts (
  run_id TEXT NOT NULL,
  step   TEXT NOT NULL,
  phase  TEXT NOT NULL,
  n      INTEGER NOT NULL,
  PRIMARY KEY (run_id, step, phase)
) WITHOUT ROWID;

CREATE TRIGGER tasks_counted AFTER INSERT ON tasks BEGIN
  INSERT INTO task_counts (run_id, step, phase, n) VALUES (new.run_id, new.step, new.phase, 1)
    ON CONFLICT (run_id, step, phase) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER tasks_recounted AFTER UPDATE OF phase ON tasks WHEN old.phase <> new.phase BEGIN
  UPDATE task_counts SET n = n - 1 WHERE run_id = old.run_id AND step = old.step AND phase = old.phase;
  INSERT INTO task_counts (run_id, step, phase, n) VALUES (new.run_id, new.step, new.phase, 1)
    ON CONFLICT (run_id, step, phase) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER tasks_uncounted AFTER DELETE ON tasks BEGIN
  UPDATE task_counts SET n = n - 1 WHERE run_id = old.run_id AND step = old.step AND phase = old.phase;
END;

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
  last_seq     INTEGER NOT NULL,
  exit         TEXT,
  outputs      TEXT,
  owner        TEXT NOT NULL,
  heartbeat_at INTEGER,
  deadline     INTEGER,
  created_at   INTEGER NOT NULL,
  started_at   INTEGER,
  finished_at  INTEGER,
  FOREIGN KEY (run_id, step, idx) REFERENCES tasks (run_id, step, idx) ON DELETE CASCADE
) WITHOUT ROWID;
-- Active attempts, of every run or of one.
CREATE INDEX attempts_phase ON attempts (phase, run_id);

CREATE TABLE logs (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  attempt_id TEXT NOT NULL,
  run_id     TEXT NOT NULL,
  step       TEXT NOT NULL,
  idx        INTEGER NOT NULL,
  seq        INTEGER NOT NULL,
  stream     TEXT NOT NULL,
  logged_at  INTEGER NOT NULL,
  text       TEXT NOT NULL,
  UNIQUE (attempt_id, seq)
);
CREATE INDEX logs_run ON logs (run_id, id);
CREATE INDEX logs_task ON logs (run_id, step, idx, id);

CREATE TABLE wakeups (
  run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  due_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX wakeups_due ON wakeups (due_at);

CREATE TABLE step_cache (
  project    TEXT NOT NULL,
  cache_key  TEXT NOT NULL,
  outputs    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project, cache_key)
);

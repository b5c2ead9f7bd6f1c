-- Triggers (issue 4): a trigger's spec, its queue of items (one per event,
-- deduplicated per trigger by key, so that a replayed event inserts
-- nothing) and the last slot each schedule fired.

CREATE TABLE triggers (
  project       TEXT NOT NULL,
  name          TEXT NOT NULL,
  spec          JSONB NOT NULL,
  labels        JSONB NOT NULL,
  version       BIGINT NOT NULL,
  secret_hash   TEXT NOT NULL,
  last_error    TEXT NOT NULL,
  last_error_at TIMESTAMPTZ,
  created_at    TIMESTAMPTZ NOT NULL,
  updated_at    TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project, name)
);

CREATE TABLE trigger_queue (
  id           BIGSERIAL PRIMARY KEY,
  project      TEXT NOT NULL,
  trigger_name TEXT NOT NULL,
  dedupe_key   TEXT NOT NULL,
  params       JSONB,
  event_at     TIMESTAMPTZ NOT NULL,
  state        TEXT NOT NULL,
  run_id       TEXT NOT NULL,
  message      TEXT NOT NULL,
  enqueued_at  TIMESTAMPTZ NOT NULL,
  started_at   TIMESTAMPTZ,
  finished_at  TIMESTAMPTZ,
  UNIQUE (project, trigger_name, dedupe_key)
);
-- What waits, per trigger, in order; what runs; counts by state.
CREATE INDEX trigger_queue_queued ON trigger_queue (project, trigger_name, id) WHERE state = 'queued';
CREATE INDEX trigger_queue_started ON trigger_queue (project, trigger_name) WHERE state = 'started';
CREATE INDEX trigger_queue_state ON trigger_queue (project, trigger_name, state);
CREATE INDEX trigger_queue_run ON trigger_queue (run_id) WHERE run_id <> '';

CREATE TABLE trigger_slots (
  project      TEXT NOT NULL,
  trigger_name TEXT NOT NULL,
  last_slot    TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project, trigger_name)
);

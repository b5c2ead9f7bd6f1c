-- Moves of a project's data to one of its keys after a rotation, so that
-- a move cut by a restart is taken up again by the next server start.
CREATE TABLE rewraps (
  project TEXT PRIMARY KEY,
  key_id  BIGINT NOT NULL,
  since   TIMESTAMPTZ NOT NULL
);

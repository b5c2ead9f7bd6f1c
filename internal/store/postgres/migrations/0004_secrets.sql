-- Project secrets: one row per name with its latest value, sealed with the
-- project's key by the control plane before it is stored (this table never
-- holds plaintext). A write replaces the value and bumps version; a delete
-- erases the value and keeps the row as a tombstone (deleted = true), so
-- that the versions of a name only ever grow.
CREATE TABLE secrets (
  project    TEXT NOT NULL,
  name       TEXT NOT NULL,
  version    BIGINT NOT NULL,
  value      BYTEA,
  deleted    BOOLEAN NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (project, name)
);

-- Project secrets: one row per name with its latest value, sealed with the
-- project's key by the control plane before it is stored (this table never
-- holds plaintext). A write replaces the value and bumps version; a delete
-- erases the value and keeps the row as a tombstone (deleted = 1), so that
-- the versions of a name only ever grow.
CREATE TABLE secrets (
  project    TEXT NOT NULL,
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  value      BLOB,
  deleted    INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (project, name)
);

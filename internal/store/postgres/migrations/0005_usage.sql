-- Bytes of artifacts each project stored, for its storage quota.
CREATE TABLE project_usage (
  project       TEXT PRIMARY KEY,
  storage_bytes BIGINT NOT NULL
);

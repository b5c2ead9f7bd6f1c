-- A project's encryption keysets, wrapped by the key-encryption key.
CREATE TABLE keysets (
  project    TEXT PRIMARY KEY,
  version    BIGINT NOT NULL,
  kek        TEXT NOT NULL,
  wrapped    BYTEA NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);

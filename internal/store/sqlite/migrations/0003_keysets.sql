-- A project's encryption keysets, wrapped by the key-encryption key.
CREATE TABLE keysets (
  project    TEXT PRIMARY KEY,
  version    INTEGER NOT NULL,
  kek        TEXT NOT NULL,
  wrapped    BLOB NOT NULL,
  updated_at INTEGER NOT NULL
);

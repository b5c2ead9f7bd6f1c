-- Identity: principals (users and service accounts), their roles in
-- projects, token descriptions, and the append-only audit log.

ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- Listing and revoking the tokens of one subject.
CREATE INDEX tokens_subject ON tokens (subject);

CREATE TABLE principals (
  name       TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,
  admin      INTEGER NOT NULL,
  project    TEXT NOT NULL,
  disabled   INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

-- Every subject of the existing user tokens becomes a user, an admin if
-- any of its tokens is, so that those tokens keep working.
INSERT INTO principals (name, kind, admin, project, disabled, created_at)
  SELECT subject, 'user', max(admin), '', 0, min(created_at)
  FROM tokens WHERE attempt_id = '' AND subject <> ''
  GROUP BY subject;

-- No foreign key to projects: bootstrap may grant roles in a project before
-- it is created.
CREATE TABLE memberships (
  project    TEXT NOT NULL,
  principal  TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
  role       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project, principal)
);
CREATE INDEX memberships_principal ON memberships (principal);

CREATE TABLE audit (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  time    INTEGER NOT NULL,
  actor   TEXT NOT NULL,
  project TEXT NOT NULL,
  action  TEXT NOT NULL,
  object  TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail  TEXT NOT NULL
);
CREATE INDEX audit_project ON audit (project, seq);
CREATE INDEX audit_actor ON audit (actor, seq);

-- The audit log is append-only.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
  SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
  SELECT RAISE(ABORT, 'audit log is append-only');
END;
-- INSERT OR REPLACE deletes without firing delete triggers.
CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit
  WHEN EXISTS (SELECT 1 FROM audit WHERE seq = new.seq) BEGIN
  SELECT RAISE(ABORT, 'audit log is append-only');
END;

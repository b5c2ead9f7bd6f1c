-- The datalake: channels of files with free JSON metadata.
--
-- Metadata is searched through file_meta, a typed key/value side table
-- (one row per scalar value, nested keys dotted, array elements one row
-- each) with composite indexes that lead with the key's id (one per
-- channel and key, from the key dictionary meta_keys): a predicate
-- reads one narrow index range instead of scanning a JSON document per
-- file, and the indexes grow with the number of values, not with the
-- number of distinct keys (the failure of a GIN index over free JSON).

CREATE TABLE channels (
  cid         INTEGER PRIMARY KEY,
  project     TEXT NOT NULL,
  name        TEXT NOT NULL,
  description TEXT NOT NULL,
  files       INTEGER NOT NULL DEFAULT 0, -- maintained on every file write
  bytes       INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL,
  UNIQUE (project, name)
);

-- fid is the internal id that joins and breaks sort ties; id is public.
CREATE TABLE files (
  fid          INTEGER PRIMARY KEY,
  id           TEXT NOT NULL,
  cid          INTEGER NOT NULL REFERENCES channels (cid),
  project      TEXT NOT NULL,
  channel      TEXT NOT NULL,
  path         TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size         INTEGER NOT NULL,
  digest       TEXT NOT NULL,
  ref          TEXT NOT NULL,
  meta         TEXT NOT NULL,
  version      INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  UNIQUE (cid, path)
);
CREATE UNIQUE INDEX files_id ON files (project, id);
CREATE INDEX files_created ON files (cid, created_at, fid);
CREATE INDEX files_updated ON files (cid, updated_at, fid);
CREATE INDEX files_size ON files (cid, size, fid);
CREATE INDEX files_type ON files (cid, content_type, fid);

-- How many files of a channel hold a key (and how many values), kept by
-- every file write: count --by knows the files without the key without
-- scanning them, and the counts say which keys a channel uses. kid is the
-- key's id in file_meta (the key dictionary): rows and index entries hold
-- an integer, not the key's text, and a kid names one channel's key, so
-- file_meta needs no channel column. Rows stay when their counts reach 0
-- (kids are never reused).
CREATE TABLE meta_keys (
  kid    INTEGER PRIMARY KEY,
  cid    INTEGER NOT NULL,
  key    TEXT NOT NULL,
  files  INTEGER NOT NULL,
  vals   INTEGER NOT NULL,
  UNIQUE (cid, key)
);

-- kind: 0 null, 1 bool, 2 number, 3 string (also the order of a sort on a
-- key holding values of several kinds). num holds numbers, bools (0/1) and
-- nulls (0); str holds strings; tm holds, in addition, the time a string
-- spells when it is an RFC 3339 time or a date. pos numbers the values of
-- one key in document order (a sort uses the first).
--
-- Each index leads with the key and ends with fid: the files of one
-- value (an equality) come in fid order, so a search in fid order reads
-- them in step and stops after a page.
CREATE TABLE file_meta (
  fid  INTEGER NOT NULL,
  kid  INTEGER NOT NULL,
  pos  INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  num  REAL,
  str  TEXT,
  tm   INTEGER,
  PRIMARY KEY (fid, kid, pos)
) WITHOUT ROWID;
CREATE INDEX file_meta_str ON file_meta (kid, str, fid) WHERE str IS NOT NULL;
CREATE INDEX file_meta_num ON file_meta (kid, kind, num, fid) WHERE num IS NOT NULL;
CREATE INDEX file_meta_tm ON file_meta (kid, tm, fid) WHERE tm IS NOT NULL;

-- The outbox: one row per committed file change, written in the change's
-- transaction; dispatchers claim the undispatched ones.
CREATE TABLE data_events (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  type         TEXT NOT NULL,
  project      TEXT NOT NULL,
  channel      TEXT NOT NULL,
  file_id      TEXT NOT NULL,
  path         TEXT NOT NULL,
  version      INTEGER NOT NULL,
  size         INTEGER NOT NULL,
  digest       TEXT NOT NULL,
  content_type TEXT NOT NULL,
  meta         TEXT NOT NULL,
  at           INTEGER NOT NULL,
  dispatched   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX data_events_pending ON data_events (seq) WHERE NOT dispatched;
CREATE INDEX data_events_project ON data_events (project, channel, seq);

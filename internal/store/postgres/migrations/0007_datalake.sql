-- The datalake: channels of files with free JSON metadata.
--
-- Metadata is searched through file_meta, a typed key/value side table
-- (one row per scalar value, nested keys dotted, array elements one row
-- each) with composite B-tree indexes that lead with the key's id (one
-- per channel and key, from the key dictionary meta_keys): a predicate
-- reads one narrow index range instead of probing a GIN index
-- over free JSON, whose size and update cost grow without bound with the
-- documents. Text compares byte-wise (COLLATE "C"), as on SQLite and in
-- the in-memory matcher.

CREATE TABLE channels (
  cid         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project     TEXT NOT NULL,
  name        TEXT NOT NULL,
  description TEXT NOT NULL,
  files       BIGINT NOT NULL DEFAULT 0, -- maintained on every file write
  bytes       BIGINT NOT NULL DEFAULT 0,
  created_at  TIMESTAMPTZ NOT NULL,
  UNIQUE (project, name)
);

-- fid is the internal id that joins and breaks sort ties; id is public.
CREATE TABLE files (
  fid          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id           TEXT NOT NULL,
  cid          BIGINT NOT NULL REFERENCES channels (cid),
  project      TEXT NOT NULL,
  channel      TEXT NOT NULL,
  path         TEXT COLLATE "C" NOT NULL,
  content_type TEXT COLLATE "C" NOT NULL,
  size         BIGINT NOT NULL,
  digest       TEXT COLLATE "C" NOT NULL,
  ref          TEXT NOT NULL,
  meta         TEXT NOT NULL,
  version      BIGINT NOT NULL,
  created_at   TIMESTAMPTZ NOT NULL,
  updated_at   TIMESTAMPTZ NOT NULL,
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
  kid    INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cid    BIGINT NOT NULL,
  key    TEXT COLLATE "C" NOT NULL,
  files  BIGINT NOT NULL,
  vals   BIGINT NOT NULL,
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
-- them in step and stops after a page (index-only scans: fid is in the
-- index).
CREATE TABLE file_meta (
  fid  BIGINT NOT NULL,
  kid  INTEGER NOT NULL,
  pos  INTEGER NOT NULL,
  kind SMALLINT NOT NULL,
  num  DOUBLE PRECISION,
  str  TEXT COLLATE "C",
  tm   TIMESTAMPTZ,
  PRIMARY KEY (fid, kid, pos)
);
-- pos is included so that count --by (which counts a file once, by its
-- first value) reads the index alone.
CREATE INDEX file_meta_str ON file_meta (kid, str, fid) INCLUDE (pos) WHERE str IS NOT NULL;
CREATE INDEX file_meta_num ON file_meta (kid, kind, num, fid) INCLUDE (pos) WHERE num IS NOT NULL;
CREATE INDEX file_meta_tm ON file_meta (kid, tm, fid) WHERE tm IS NOT NULL;
-- Per-column statistics know str's common values over all keys, not one
-- key's: the planner then misjudges a (kid, value) range by 10-100x.
-- Multivariate MCV lists on (kid, value) give the common pairs.
CREATE STATISTICS file_meta_str_stats (mcv) ON kid, str FROM file_meta;
CREATE STATISTICS file_meta_num_stats (mcv) ON kid, kind, num FROM file_meta;
ALTER STATISTICS file_meta_str_stats SET STATISTICS 1000;
ALTER STATISTICS file_meta_num_stats SET STATISTICS 1000;

-- The outbox: one row per committed file change, written in the change's
-- transaction; dispatchers claim the undispatched ones (SKIP LOCKED).
CREATE TABLE data_events (
  seq          BIGSERIAL PRIMARY KEY,
  type         TEXT NOT NULL,
  project      TEXT NOT NULL,
  channel      TEXT NOT NULL,
  file_id      TEXT NOT NULL,
  path         TEXT NOT NULL,
  version      BIGINT NOT NULL,
  size         BIGINT NOT NULL,
  digest       TEXT NOT NULL,
  content_type TEXT NOT NULL,
  meta         TEXT NOT NULL,
  at           TIMESTAMPTZ NOT NULL,
  dispatched   BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX data_events_pending ON data_events (seq) WHERE NOT dispatched;
CREATE INDEX data_events_project ON data_events (project, channel, seq);

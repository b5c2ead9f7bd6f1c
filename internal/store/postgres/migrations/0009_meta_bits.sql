-- Bitmap postings of metadata values (see sqlstore/datalake_bits.go):
-- for each key id (kid) and term (a string, boolean, null, "holds the
-- key", or a bucket of numbers or times; bytes, compared as such), the
-- fids holding it, one row per chunk of 65,536 fids: 2-byte offsets, or
-- an 8 KiB bitset when fuller. A search ANDs and ORs them per chunk.
CREATE TABLE meta_bits (
  kid   BIGINT NOT NULL,
  term  BYTEA NOT NULL,
  chunk BIGINT NOT NULL,
  bits  BYTEA NOT NULL,
  PRIMARY KEY (kid, term, chunk)
);
-- Bitsets of random fids do not compress: store them out of line as they
-- are, without trying.
ALTER TABLE meta_bits ALTER COLUMN bits SET STORAGE EXTERNAL;

-- A mark for Open: files written before the bitmaps existed are indexed
-- once, by a rebuild from file_meta.
CREATE TABLE meta_bits_pending (pending INTEGER NOT NULL);
INSERT INTO meta_bits_pending SELECT 1 WHERE EXISTS (SELECT 1 FROM files);

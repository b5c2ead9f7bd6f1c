-- The CRC-32C (Castagnoli) of a file's plaintext, in hex, computed with
-- its SHA-256 as it is uploaded: a download is checked with it (what GCS
-- and gsutil do), at a tenth of the CPU of the SHA-256. Empty for files
-- stored before it was kept: their downloads are checked with the digest.
ALTER TABLE files ADD COLUMN crc32c TEXT NOT NULL DEFAULT '';

package client

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

// TestDownloadChecker: a download is checked with its CRC-32C when the
// server sent one, with its SHA-256 when asked or when there is no CRC,
// and either check fails on other bytes.
func TestDownloadChecker(t *testing.T) {
	good, bad := []byte("the file's bytes"), []byte("the file's bytez")
	sum := sha256.Sum256(good)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	crc := fmt.Sprintf("%08x", crc32.Checksum(good, crc32.MakeTable(crc32.Castagnoli)))
	for _, tc := range []struct {
		name   string
		d      DataDownload
		sha256 bool
		want   string // in the error on the bad bytes
	}{
		{"crc", DataDownload{Digest: digest, CRC32C: crc}, false, "CRC-32C"},
		{"asked for the digest", DataDownload{Digest: digest, CRC32C: crc}, true, "digest"},
		{"no crc", DataDownload{Digest: digest}, false, "digest"},
		{"a wrong crc", DataDownload{Digest: digest, CRC32C: "00000000"}, true, "digest"},
	} {
		check := func(b []byte) error {
			w, check := tc.d.Checker(tc.sha256)
			if _, err := io.Copy(w, strings.NewReader(string(b))); err != nil {
				t.Fatal(err)
			}
			return check()
		}
		if err := check(good); err != nil {
			t.Errorf("%s: the right bytes: %v", tc.name, err)
		}
		if err := check(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: other bytes: %v, want an error about the %s", tc.name, err, tc.want)
		}
	}
}

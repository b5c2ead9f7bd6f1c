package server

import (
	"context"
	"encoding/base64"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/objects"
)

// logKeyStore is what key rotation needs of the store beyond store.Store:
// to count a project's log lines per key and to move them to another key.
// The SQL stores (sqlstore) have it.
type logKeyStore interface {
	ProjectLogs(ctx context.Context, project string, after int64, limit int) ([]v1.LogLine, error)
	ReplaceLogText(ctx context.Context, cursor int64, old, text string) (bool, error)
	CountLogPrefixes(ctx context.Context, project string, n int) (map[string]int64, error)
}

func (s *Server) logKeys() (logKeyStore, error) {
	ls, ok := s.store.(logKeyStore)
	if !ok {
		return nil, errs.E(errs.Internal, "this store cannot move log lines between keys")
	}
	return ls, nil
}

// census is how much of a project's data each key encrypts.
type census struct {
	artifacts, data, logs map[uint32]int64
	// secrets: their latest versions (the rewrap moves them too).
	secrets map[uint32]int64
	// plainArtifacts and plainLogs are not koya ciphertext: stored before
	// encryption at rest.
	plainArtifacts, plainLogs int64
}

// under is how many items key id encrypts.
func (c census) under(id uint32) int64 {
	return c.artifacts[id] + c.data[id] + c.logs[id] + c.secrets[id]
}

// besides is how many artifacts, log lines and secrets (what a rewrap
// moves) are under another key than id.
func (c census) besides(id uint32) int64 {
	var n int64
	for _, m := range []map[uint32]int64{c.artifacts, c.data, c.logs, c.secrets} {
		for k, v := range m {
			if k != id {
				n += v
			}
		}
	}
	return n
}

// count takes a census of project: the database counts log lines by the
// prefix of their text, which names the key; artifacts cost one small read
// each (their first 5 bytes).
func (s *Server) count(ctx context.Context, project string) (census, error) {
	c := census{artifacts: map[uint32]int64{}, data: map[uint32]int64{}, logs: map[uint32]int64{}, secrets: map[uint32]int64{}}
	err := s.objects.Walk(ctx, project, func(o objects.Object) error {
		switch {
		case o.Encrypted && o.Datalake:
			c.data[o.KeyID]++
		case o.Encrypted:
			c.artifacts[o.KeyID]++
		default:
			c.plainArtifacts++
		}
		return nil
	})
	if err != nil {
		return c, err
	}
	ls, err := s.logKeys()
	if err != nil {
		return c, err
	}
	prefixes, err := ls.CountLogPrefixes(ctx, project, logPrefixLen)
	if err != nil {
		return c, err
	}
	for p, n := range prefixes {
		if id, ok := logKeyOf(p); ok {
			c.logs[id] += n
		} else {
			c.plainLogs += n
		}
	}
	return c, s.countSecrets(ctx, project, c.secrets)
}

// countSecrets counts the latest version of each of project's secrets by
// key: one read each (listings carry no values).
func (s *Server) countSecrets(ctx context.Context, project string, into map[uint32]int64) error {
	ss, err := s.store.ListSecrets(ctx, project)
	if err != nil {
		return err
	}
	for _, sec := range ss {
		full, err := s.store.GetSecret(ctx, project, sec.Name)
		if errs.Is(err, errs.NotFound) {
			continue // deleted meanwhile, or a tombstone
		}
		if err != nil {
			return err
		}
		if id, err := keys.KeyIDOf(full.Value); err == nil {
			into[id]++
		}
	}
	return nil
}

// rewrapLogs moves the project's log lines that are not under key primary
// to the keyring's primary key, calling step after each; it stops at the
// first error that is not an item's own.
func (s *Server) rewrapLogs(ctx context.Context, project string, primary uint32, step func(error)) error {
	ls, err := s.logKeys()
	if err != nil {
		return err
	}
	const page = 500
	var after int64
	for {
		lines, err := ls.ProjectLogs(ctx, project, after, page)
		if err != nil {
			return err
		}
		for _, l := range lines {
			after = l.Cursor
			if id, ok := logKeyOf(l.Text); !ok || id == primary {
				continue // not a ciphertext (counted as such), or moved
			}
			step(s.rewrapLine(ctx, ls, project, l))
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(lines) < page {
			return nil
		}
	}
}

// rewrapLine re-encrypts one stored line. A line changed meanwhile (moved
// by another job) is left as it is.
func (s *Server) rewrapLine(ctx context.Context, ls logKeyStore, project string, l v1.LogLine) error {
	ct, err := base64.StdEncoding.DecodeString(l.Text)
	if err != nil {
		return errs.E(errs.Forbidden, "log line %d of attempt %s is not encrypted", l.Seq, l.Attempt)
	}
	moved, err := s.keys.Reencrypt(ctx, project, kindLog, logID(l.Attempt, l.Seq), ct)
	if err != nil {
		return err
	}
	_, err = ls.ReplaceLogText(ctx, l.Cursor, l.Text, base64.StdEncoding.EncodeToString(moved))
	return err
}

package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// A run's spec never changes and a fan-out spec can be large (its foreach
// list), while the engine reads the run on every event. So specs live in
// run_specs under the digest of their JSON, and decoded specs are cached by
// digest: content-addressed, a cached entry can never be stale.

// maxSpecs bounds the cache of decoded specs.
const maxSpecs = 256

type specCache struct {
	mu sync.Mutex
	m  map[string]v1.WorkflowSpec
}

func (c *specCache) get(digest string) (v1.WorkflowSpec, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[digest]
	return s, ok
}

func (c *specCache) put(digest string, s v1.WorkflowSpec) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxSpecs {
		c.m = make(map[string]v1.WorkflowSpec) // crude, but specs are re-read cheaply
	}
	c.m[digest] = s
}

// putSpec stores spec (once per content) and returns its digest.
func (q *querier) putSpec(ctx context.Context, spec v1.WorkflowSpec) (string, error) {
	text, err := jsonArg(spec)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "spec: %v", err)
	}
	sum := sha256.Sum256([]byte(text))
	digest := hex.EncodeToString(sum[:])
	if _, err := q.exec(ctx, `INSERT INTO run_specs (digest, spec) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING`,
		digest, text); err != nil {
		return "", q.s.wrap(err, "run spec")
	}
	return digest, nil
}

// specs resolves digests to decoded specs: from the cache, the rest with
// one query.
func (q *querier) specs(ctx context.Context, digests ...string) (map[string]v1.WorkflowSpec, error) {
	out := make(map[string]v1.WorkflowSpec, len(digests))
	var missing []any
	for _, d := range digests {
		if _, done := out[d]; done {
			continue
		}
		if s, ok := q.s.specs.get(d); ok {
			out[d] = s
			continue
		}
		out[d] = v1.WorkflowSpec{} // placeholder: asked once
		missing = append(missing, d)
	}
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := q.query(ctx, `SELECT digest, spec FROM run_specs WHERE digest IN (?`+
		strings.Repeat(", ?", len(missing)-1)+`)`, missing...)
	if err != nil {
		return nil, q.s.wrap(err, "run specs")
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var d string
		var s v1.WorkflowSpec
		if err := rows.Scan(&d, jsonCol{&s}); err != nil {
			return nil, q.s.wrap(err, "run specs")
		}
		q.s.specs.put(d, s)
		out[d] = s
		found++
	}
	if err := rows.Err(); err != nil {
		return nil, q.s.wrap(err, "run specs")
	}
	if found != len(missing) {
		return nil, errs.E(errs.Internal, "run specs: %d of %d missing", len(missing)-found, len(missing))
	}
	return out, nil
}

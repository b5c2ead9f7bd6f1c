package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func (q *querier) CreateToken(ctx context.Context, t store.Token) error {
	if t.ID == "" || t.Hash == "" {
		return errs.E(errs.Invalid, "a token needs an id and a hash")
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = q.s.now()
	}
	d := q.s.d
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO tokens (id, hash, subject, admin, project, attempt_id, expires_at, revoked, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Hash, t.Subject, t.Admin, t.Project, t.AttemptID, d.timePtrArg(t.ExpiresAt), t.Revoked, d.timeArg(t.CreatedAt))
		return q.s.wrap(err, "token %q", t.ID)
	})
}

// GetTokenByHash returns the token whatever its state: callers check
// Revoked and ExpiresAt.
func (q *querier) GetTokenByHash(ctx context.Context, hash string) (store.Token, error) {
	var t store.Token
	err := q.queryRow(ctx, `SELECT id, hash, subject, admin, project, attempt_id, expires_at, revoked, created_at
FROM tokens WHERE hash = ?`, hash).Scan(&t.ID, &t.Hash, &t.Subject, &t.Admin, &t.Project, &t.AttemptID,
		nullTimeCol{&t.ExpiresAt}, &t.Revoked, timeCol{&t.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return t, errs.E(errs.NotFound, "token not found") // the hash is a secret's: never echoed
	}
	return t, q.s.wrap(err, "token")
}

func (q *querier) RevokeToken(ctx context.Context, id string) error {
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `UPDATE tokens SET revoked = ? WHERE id = ?`, true, id)
		if err != nil {
			return q.s.wrap(err, "token %q", id)
		}
		return affected(res, func() error { return errs.E(errs.NotFound, "token %q not found", id) })
	})
}

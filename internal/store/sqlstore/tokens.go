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
		_, err := q.exec(ctx, `INSERT INTO tokens (id, hash, subject, description, admin, project, attempt_id, expires_at, revoked, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Hash, t.Subject, t.Description, t.Admin, t.Project, t.AttemptID, d.timePtrArg(t.ExpiresAt), t.Revoked,
			d.timeArg(t.CreatedAt))
		return q.s.wrap(err, "token %q", t.ID)
	})
}

const tokenCols = `id, hash, subject, description, admin, project, attempt_id, expires_at, revoked, created_at`

func scanToken(sc interface{ Scan(...any) error }) (store.Token, error) {
	var t store.Token
	err := sc.Scan(&t.ID, &t.Hash, &t.Subject, &t.Description, &t.Admin, &t.Project, &t.AttemptID,
		nullTimeCol{&t.ExpiresAt}, &t.Revoked, timeCol{&t.CreatedAt})
	return t, err
}

// GetTokenByHash returns the token whatever its state: callers check
// Revoked and ExpiresAt.
func (q *querier) GetTokenByHash(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(q.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, errs.E(errs.NotFound, "token not found") // the hash is a secret's: never echoed
	}
	return t, q.s.wrap(err, "token")
}

// GetToken returns the token whatever its state (agent tokens included).
func (q *querier) GetToken(ctx context.Context, id string) (store.Token, error) {
	t, err := scanToken(q.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, errs.E(errs.NotFound, "token %q not found", id)
	}
	return t, q.s.wrap(err, "token %q", id)
}

// ListTokens lists user and service account tokens, revoked and expired
// ones included, newest first; agent tokens are never listed.
func (q *querier) ListTokens(ctx context.Context, f store.TokenFilter) ([]store.Token, error) {
	query := `SELECT ` + tokenCols + ` FROM tokens WHERE attempt_id = ''`
	var args []any
	if f.Subject != "" {
		query += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	query += ` ORDER BY created_at DESC, id DESC`
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "list tokens")
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, q.s.wrap(err, "list tokens")
		}
		out = append(out, t)
	}
	return out, q.s.wrap(rows.Err(), "list tokens")
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

// RevokeTokensOf revokes every live (not yet revoked) token of subject and
// returns how many it revoked; a subject without tokens is not an error.
func (q *querier) RevokeTokensOf(ctx context.Context, subject string) (int, error) {
	if subject == "" {
		return 0, errs.E(errs.Invalid, "revoking tokens needs a subject")
	}
	var n int64
	err := q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `UPDATE tokens SET revoked = ? WHERE subject = ? AND revoked = ?`, true, subject, false)
		if err != nil {
			return q.s.wrap(err, "tokens of %q", subject)
		}
		n, err = res.RowsAffected()
		return q.s.wrap(err, "tokens of %q", subject)
	})
	return int(n), err
}

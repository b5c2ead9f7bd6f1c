package sqlstore

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// AppendAudit stores e, its Time the store's clock if zero, and returns the
// Seq it was given. The audit table refuses updates and deletes.
func (q *querier) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	if e.Action == "" {
		return 0, errs.E(errs.Invalid, "an audit entry needs an action")
	}
	if e.Outcome != store.AuditOK && e.Outcome != store.AuditDenied {
		return 0, errs.E(errs.Invalid, "audit entry %q: outcome %q is not %q or %q", e.Action, e.Outcome, store.AuditOK, store.AuditDenied)
	}
	if e.Time.IsZero() {
		e.Time = q.s.now()
	}
	d := q.s.d
	var seq int64
	err := q.write(ctx, func(q *querier) error {
		err := q.queryRow(ctx, `INSERT INTO audit (time, actor, project, action, object, outcome, detail)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
			d.timeArg(e.Time), e.Actor, e.Project, e.Action, e.Object, e.Outcome, e.Detail).Scan(&seq)
		return q.s.wrap(err, "audit entry %q", e.Action)
	})
	return seq, err
}

// Bounds of AuditFilter.Limit.
const (
	auditLimit    = 100
	auditMaxLimit = 1000
)

// ListAudit returns entries newest first (by Seq).
func (q *querier) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.Project != "" {
		add("project = ?", f.Project)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			// A prefix; not LIKE, whose wildcards and (on SQLite) case
			// folding would match more.
			add("substr(action, 1, ?) = ?", utf8.RuneCountInString(f.Action), f.Action)
		} else {
			add("action = ?", f.Action)
		}
	}
	if f.Since != nil {
		add("time >= ?", q.s.d.timeArg(*f.Since))
	}
	if f.Before > 0 {
		add("seq < ?", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = auditLimit
	}
	limit = min(limit, auditMaxLimit)
	query := `SELECT seq, time, actor, project, action, object, outcome, detail FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "list audit entries")
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		if err := rows.Scan(&e.Seq, timeCol{&e.Time}, &e.Actor, &e.Project, &e.Action, &e.Object, &e.Outcome, &e.Detail); err != nil {
			return nil, q.s.wrap(err, "list audit entries")
		}
		out = append(out, e)
	}
	return out, q.s.wrap(rows.Err(), "list audit entries")
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// PutPrincipal inserts a principal or updates its kind, admin flag,
// project and disabled flag (its creation time stays).
func (q *querier) PutPrincipal(ctx context.Context, p store.Principal) error {
	switch {
	case p.Name == "":
		return errs.E(errs.Invalid, "a principal needs a name")
	case p.Kind != store.KindUser && p.Kind != store.KindService:
		return errs.E(errs.Invalid, "principal %q: kind %q is not %q or %q", p.Name, p.Kind, store.KindUser, store.KindService)
	case p.Kind == store.KindService && p.Project == "":
		return errs.E(errs.Invalid, "principal %q: a service account needs a project", p.Name)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = q.s.now()
	}
	d := q.s.d
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO principals (name, kind, admin, project, disabled, created_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, admin = excluded.admin, project = excluded.project,
  disabled = excluded.disabled`,
			p.Name, p.Kind, p.Admin, p.Project, p.Disabled, d.timeArg(p.CreatedAt))
		return q.s.wrap(err, "principal %q", p.Name)
	})
}

const principalCols = `name, kind, admin, project, disabled, created_at`

func scanPrincipal(sc interface{ Scan(...any) error }) (store.Principal, error) {
	var p store.Principal
	err := sc.Scan(&p.Name, &p.Kind, &p.Admin, &p.Project, &p.Disabled, timeCol{&p.CreatedAt})
	return p, err
}

func (q *querier) GetPrincipal(ctx context.Context, name string) (store.Principal, error) {
	p, err := scanPrincipal(q.queryRow(ctx, `SELECT `+principalCols+` FROM principals WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, errs.E(errs.NotFound, "principal %q not found", name)
	}
	return p, q.s.wrap(err, "principal %q", name)
}

func (q *querier) ListPrincipals(ctx context.Context) ([]store.Principal, error) {
	rows, err := q.query(ctx, `SELECT `+principalCols+` FROM principals ORDER BY name`)
	if err != nil {
		return nil, q.s.wrap(err, "list principals")
	}
	defer rows.Close()
	var out []store.Principal
	for rows.Next() {
		p, err := scanPrincipal(rows)
		if err != nil {
			return nil, q.s.wrap(err, "list principals")
		}
		out = append(out, p)
	}
	return out, q.s.wrap(rows.Err(), "list principals")
}

func membershipNotFound(project, principal string) error {
	return errs.E(errs.NotFound, "%q is not a member of project %q", principal, project)
}

// PutMembership gives m.Principal, which must exist (errs.NotFound
// otherwise), role m.Role in m.Project, replacing its role there if it had
// one (its creation time stays).
func (q *querier) PutMembership(ctx context.Context, m store.Membership) error {
	if m.Project == "" || m.Principal == "" {
		return errs.E(errs.Invalid, "a membership needs a project and a principal")
	}
	if !m.Role.Valid() {
		valid := make([]string, len(v1.Roles))
		for i, r := range v1.Roles {
			valid[i] = string(r)
		}
		return errs.E(errs.Invalid, "membership of %q in project %q: role %q is not one of %s",
			m.Principal, m.Project, m.Role, strings.Join(valid, ", "))
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = q.s.now()
	}
	d := q.s.d
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO memberships (project, principal, role, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (project, principal) DO UPDATE SET role = excluded.role`,
			m.Project, m.Principal, string(m.Role), d.timeArg(m.CreatedAt))
		return q.s.wrap(err, "membership of %q in project %q", m.Principal, m.Project)
	})
}

const membershipCols = `project, principal, role, created_at`

func scanMembership(sc interface{ Scan(...any) error }) (store.Membership, error) {
	var m store.Membership
	err := sc.Scan(&m.Project, &m.Principal, &m.Role, timeCol{&m.CreatedAt})
	return m, err
}

func (q *querier) GetMembership(ctx context.Context, project, principal string) (store.Membership, error) {
	m, err := scanMembership(q.queryRow(ctx, `SELECT `+membershipCols+` FROM memberships WHERE project = ? AND principal = ?`,
		project, principal))
	if errors.Is(err, sql.ErrNoRows) {
		return m, membershipNotFound(project, principal)
	}
	return m, q.s.wrap(err, "membership of %q in project %q", principal, project)
}

func (q *querier) DeleteMembership(ctx context.Context, project, principal string) error {
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `DELETE FROM memberships WHERE project = ? AND principal = ?`, project, principal)
		if err != nil {
			return q.s.wrap(err, "membership of %q in project %q", principal, project)
		}
		return affected(res, func() error { return membershipNotFound(project, principal) })
	})
}

// ListMemberships returns memberships ordered by project, then principal.
func (q *querier) ListMemberships(ctx context.Context, f store.MembershipFilter) ([]store.Membership, error) {
	var where []string
	var args []any
	if f.Project != "" {
		where = append(where, "project = ?")
		args = append(args, f.Project)
	}
	if f.Principal != "" {
		where = append(where, "principal = ?")
		args = append(args, f.Principal)
	}
	query := `SELECT ` + membershipCols + ` FROM memberships`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY project, principal`
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "list memberships")
	}
	defer rows.Close()
	var out []store.Membership
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return nil, q.s.wrap(err, "list memberships")
		}
		out = append(out, m)
	}
	return out, q.s.wrap(rows.Err(), "list memberships")
}

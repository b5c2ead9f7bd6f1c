package v1

// Role is what a principal may do in one project. Each role includes the
// ones below it: a viewer reads (runs, logs, artifacts, workflows), an
// editor also changes (apply, run, cancel, retry, secrets' values), an
// owner also manages the project (members, service accounts, keys, audit).
type Role string

const (
	RoleViewer Role = "viewer"
	RoleEditor Role = "editor"
	RoleOwner  Role = "owner"
)

// Roles in increasing order.
var Roles = []Role{RoleViewer, RoleEditor, RoleOwner}

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return r.Valid() && need.Valid() && r.rank() >= need.rank() }

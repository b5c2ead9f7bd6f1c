package cli

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

// Identity commands: login and contexts, users, tokens, project members,
// service accounts and the audit log.

func (a *app) loginCmd() *cobra.Command {
	var server, token, project, name string
	cmd := &cobra.Command{
		Use:   "login --server URL [--token TOKEN]",
		Short: "Check a token against a server and save them as a context of the config",
		Long: `Checks the token (from --token, else read from standard input) with the
server, then writes a context (named --context, else after the server's host)
to ~/.koya/config.yaml (0600) and makes it the current one.`,
		Args: args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				return usagef("--server is required")
			}
			if token == "" {
				line, err := bufio.NewReader(a.stdin).ReadString('\n')
				token = strings.TrimSpace(line)
				if token == "" {
					return usagef("no token: pass --token or write it to standard input (%v)", err)
				}
			}
			cl := client.New(server, token)
			cl.UserAgent = "koya-cli/" + Version
			me, err := cl.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			if name == "" {
				name = strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
			}
			if project == "" {
				project = me.Project
			}
			if project == "" && len(me.Members) == 1 {
				project = me.Members[0].Project
			}
			cfg, path, err := openConfig()
			if err != nil {
				return err
			}
			cfg.set(Context{Name: name, Server: server, Token: token, Project: project})
			cfg.CurrentContext = name
			if err := cfg.save(path); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "logged in to %s as %s; context %q saved in %s", server, me.Subject, name, path)
			if project != "" {
				fmt.Fprintf(a.stdout, " (project %s)", project)
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "server URL")
	f.StringVar(&token, "token", "", "API token (default: read from standard input)")
	f.StringVar(&project, "project", "", "default project of the context")
	f.StringVar(&name, "context", "", "context name (default: the server's host and port)")
	return cmd
}

func (a *app) whoamiCmd() *cobra.Command {
	cmd, _ := a.readCmd("whoami", "Show who the token speaks for and its projects", 0, "no arguments", false,
		func(cmd *cobra.Command, cl *client.Client, _ string, _ []string, out *format) error {
			me, err := cl.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			return out.print(a.stdout, me, func(t *table) {
				scope := "every project of its memberships"
				if me.Admin {
					scope = "every project (administrator)"
				} else if me.Project != "" {
					scope = "project " + me.Project + " only"
				}
				t.row("SUBJECT", me.Subject)
				t.row("KIND", me.Kind)
				t.row("TOKEN OPENS", scope)
				for _, m := range me.Members {
					t.row("ROLE IN "+m.Project, m.Role)
				}
			})
		})
	return cmd
}

func (a *app) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users (administrators)", Args: args(0, "a subcommand")}
	list, _ := a.readCmd("list", "List users and service accounts", 0, "no arguments", false,
		func(cmd *cobra.Command, cl *client.Client, _ string, _ []string, out *format) error {
			us, err := cl.Users(cmd.Context())
			if err != nil {
				return err
			}
			return out.print(a.stdout, us, func(t *table) { userRows(t, us) })
		})
	var isAdmin bool
	create, _ := a.readCmd("create NAME", "Create a user (then give them roles with 'koya member set')", 1, "a user name", false,
		func(cmd *cobra.Command, cl *client.Client, _ string, argv []string, out *format) error {
			u, err := cl.CreateUser(cmd.Context(), client.UserRequest{Name: argv[0], Admin: isAdmin})
			if err != nil {
				return err
			}
			return out.print(a.stdout, u, func(t *table) { userRows(t, []client.User{u}) })
		})
	create.Flags().BoolVar(&isAdmin, "admin", false, "an administrator: every project, and users")
	disable, _ := a.readCmd("disable NAME", "Disable a user and revoke all their tokens", 1, "a user name", false,
		func(cmd *cobra.Command, cl *client.Client, _ string, argv []string, _ *format) error {
			if err := cl.DisableUser(cmd.Context(), argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "user %s disabled; their tokens are revoked\n", argv[0])
			return nil
		})
	cmd.AddCommand(list, create, disable)
	return cmd
}

func userRows(t *table, us []client.User) {
	now := time.Now()
	t.row("NAME", "KIND", "ADMIN", "PROJECT", "DISABLED", "AGE")
	for _, u := range us {
		t.row(u.Name, u.Kind, yes(u.Admin), u.Project, yes(u.Disabled), age(u.CreatedAt, now))
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens", Args: args(0, "a subcommand")}
	var req client.TokenRequest
	create, _ := a.readCmd("create", "Create a token (its secret is printed once)", 0, "no arguments", false,
		func(cmd *cobra.Command, cl *client.Client, _ string, _ []string, out *format) error {
			tok, err := cl.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if out.value != "table" {
				return out.print(a.stdout, tok, nil)
			}
			fmt.Fprintf(a.stdout, "%s\n", tok.Secret)
			fmt.Fprintf(a.stderr, "token %s for %s: copy the secret above now, it is not shown again\n", tok.ID, tok.Subject)
			return nil
		})
	f := create.Flags()
	f.StringVar(&req.Subject, "for", "", "whose token: a user (administrators), or a service account <project>:<name> of a project you own")
	f.StringVar(&req.Project, "only-project", "", "the token opens this project only")
	f.StringVar(&req.ExpiresIn, "expires", "", "lifetime, e.g. 720h (default: until revoked)")
	f.StringVar(&req.Description, "description", "", "what the token is for")
	var subject string
	list, _ := a.readCmd("list", "List tokens (never their secrets)", 0, "no arguments", false,
		func(cmd *cobra.Command, cl *client.Client, _ string, _ []string, out *format) error {
			ts, err := cl.Tokens(cmd.Context(), subject)
			if err != nil {
				return err
			}
			return out.print(a.stdout, ts, func(t *table) {
				now := time.Now()
				t.row("ID", "SUBJECT", "PROJECT", "EXPIRES", "REVOKED", "AGE", "DESCRIPTION")
				for _, k := range ts {
					exp := "never"
					if k.ExpiresAt != nil {
						exp = k.ExpiresAt.Local().Format(time.DateTime)
					}
					t.row(k.ID, k.Subject, k.Project, exp, yes(k.Revoked), age(k.CreatedAt, now), k.Description)
				}
			})
		})
	list.Flags().StringVar(&subject, "for", "", "whose tokens (default: yours)")
	revoke, _ := a.readCmd("revoke ID", "Revoke a token", 1, "a token id", false,
		func(cmd *cobra.Command, cl *client.Client, _ string, argv []string, _ *format) error {
			if err := cl.RevokeToken(cmd.Context(), argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "token %s revoked\n", argv[0])
			return nil
		})
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func (a *app) memberCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "member", Short: "Manage who has which role in a project", Args: args(0, "a subcommand")}
	list, _ := a.readCmd("list", "List the project's members", 0, "no arguments", true,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			ms, err := cl.Members(cmd.Context(), project)
			if err != nil {
				return err
			}
			return out.print(a.stdout, ms, func(t *table) { memberRows(t, ms) })
		})
	set, _ := a.readCmd("set PRINCIPAL ROLE", "Give a user or service account a role (viewer, editor, owner) in the project", 2, "a principal and a role", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			m, err := cl.SetMember(cmd.Context(), project, argv[0], v1.Role(argv[1]))
			if err != nil {
				return err
			}
			return out.print(a.stdout, m, func(t *table) { memberRows(t, []client.Member{m}) })
		})
	remove, _ := a.readCmd("remove PRINCIPAL", "Take a user or service account out of the project (effective at once)", 1, "a principal", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, _ *format) error {
			if err := cl.RemoveMember(cmd.Context(), project, argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s removed from project %s\n", argv[0], project)
			return nil
		})
	cmd.AddCommand(list, set, remove)
	return cmd
}

func memberRows(t *table, ms []client.Member) {
	now := time.Now()
	t.row("PROJECT", "PRINCIPAL", "ROLE", "AGE")
	for _, m := range ms {
		t.row(m.Project, m.Principal, m.Role, age(m.CreatedAt, now))
	}
}

func (a *app) serviceAccountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "serviceaccount", Aliases: []string{"sa"}, Short: "Manage a project's service accounts (automation)", Args: args(0, "a subcommand")}
	list, _ := a.readCmd("list", "List the project's service accounts", 0, "no arguments", true,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			us, err := cl.ServiceAccounts(cmd.Context(), project)
			if err != nil {
				return err
			}
			return out.print(a.stdout, us, func(t *table) { userRows(t, us) })
		})
	var role string
	create, _ := a.readCmd("create NAME", "Create a service account <project>:<name> with a role; make its token with 'koya token create --for'", 1, "a name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			u, err := cl.CreateServiceAccount(cmd.Context(), project, client.ServiceAccountRequest{Name: argv[0], Role: v1.Role(role)})
			if err != nil {
				return err
			}
			return out.print(a.stdout, u, func(t *table) { userRows(t, []client.User{u}) })
		})
	create.Flags().StringVar(&role, "role", string(v1.RoleEditor), "its role in the project: viewer, editor or owner")
	del, _ := a.readCmd("delete NAME", "Disable a service account, revoke its tokens and remove it from the project", 1, "a name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, _ *format) error {
			name := strings.TrimPrefix(argv[0], project+":")
			if err := cl.DeleteServiceAccount(cmd.Context(), project, name); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "service account %s:%s deleted; its tokens are revoked\n", project, name)
			return nil
		})
	cmd.AddCommand(list, create, del)
	return cmd
}

func (a *app) auditCmd() *cobra.Command {
	var f client.AuditFilter
	var since time.Duration
	var all bool
	cmd, _ := a.readCmd("audit", "Show the audit log: who did what to which project object", 0, "no arguments", false,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			if !all {
				if project == "" {
					return errs.E(errs.Invalid, "no project: set --project (or the context's), or --all (administrators)")
				}
				f.Project = project
			}
			if since > 0 {
				f.Since = time.Now().Add(-since)
			}
			es, err := cl.Audit(cmd.Context(), f)
			if err != nil {
				return err
			}
			return out.print(a.stdout, es, func(t *table) {
				t.row("TIME", "ACTOR", "PROJECT", "ACTION", "OBJECT", "OUTCOME", "DETAIL")
				for _, e := range es {
					t.row(e.Time.Local().Format(time.DateTime), e.Actor, e.Project, e.Action, e.Object, e.Outcome, e.Detail)
				}
			})
		})
	fl := cmd.Flags()
	fl.StringVar(&f.Actor, "actor", "", "only this principal's actions")
	fl.StringVar(&f.Action, "action", "", "only this action (a prefix ending in '.' matches a family, e.g. member.)")
	fl.DurationVar(&since, "since", 0, "only the last duration, e.g. 24h")
	fl.IntVar(&f.Limit, "limit", 100, "at most this many entries")
	fl.BoolVar(&all, "all", false, "every project's entries (administrators)")
	return cmd
}

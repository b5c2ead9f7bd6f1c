package cli

import (
	"os"

	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

// conn is what a client command connects with: flags win over KOYA_SERVER,
// KOYA_TOKEN and KOYA_PROJECT, which win over the config's context.
type conn struct {
	server, token, project, context string
}

func (c *conn) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.server, "server", "", "server URL (default: $KOYA_SERVER, else the config's context)")
	f.StringVar(&c.token, "token", "", "API token (default: $KOYA_TOKEN, else the config's context)")
	f.StringVar(&c.project, "project", "", "project (default: $KOYA_PROJECT, else the config's context)")
	f.StringVar(&c.context, "context", "", "context of the config file to use (default: its current-context)")
}

// resolve fills what flags left empty from the environment and the config.
func (c *conn) resolve() (conn, error) {
	out := *c
	pick := func(v *string, env string) {
		if *v == "" {
			*v = os.Getenv(env)
		}
	}
	pick(&out.server, "KOYA_SERVER")
	pick(&out.token, "KOYA_TOKEN")
	pick(&out.project, "KOYA_PROJECT")
	if out.server == "" || out.token == "" || out.project == "" {
		cfg, path, err := openConfig()
		if err != nil {
			return out, err
		}
		if x, ok := cfg.context(out.context); ok {
			fill := func(v *string, from string) {
				if *v == "" {
					*v = from
				}
			}
			fill(&out.server, x.Server)
			fill(&out.token, x.Token)
			fill(&out.project, x.Project)
		} else if out.context != "" {
			return out, errs.At(errs.Invalid, "--context", "no context %q in %s", out.context, path)
		}
	}
	if out.server == "" {
		return out, errs.E(errs.Invalid, "no server to talk to: start one with 'koya server' (it writes ~/.koya/config.yaml), or set --server / KOYA_SERVER")
	}
	return out, nil
}

// client connects; projectRequired says the command works in a project.
func (c *conn) client(projectRequired bool) (*client.Client, string, error) {
	r, err := c.resolve()
	if err != nil {
		return nil, "", err
	}
	if projectRequired && r.project == "" {
		return nil, "", errs.E(errs.Invalid, "no project: set --project, KOYA_PROJECT or the context's project")
	}
	cl := client.New(r.server, r.token)
	cl.UserAgent = "koya-cli/" + Version
	return cl, r.project, nil
}

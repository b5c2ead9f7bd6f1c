package cli

import (
	"fmt"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

// configCmd shows and switches the contexts of the CLI's config, as
// kubectl config does a kubeconfig's. Tokens are never printed.
func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show and switch the contexts of the CLI config (server, token, default project)",
		Long: `The CLI config (~/.koya/config.yaml, or $KOYA_CONFIG) holds named
contexts of a server, a token and a default project; 'koya server' and
'koya login' write them. These commands list them, pick the current one
and set its default project. They never print a token.`,
	}
	var out format
	list := &cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts; * marks the current one",
		Args:  args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			cfg, _, err := openConfig()
			if err != nil {
				return err
			}
			views := make([]contextView, 0, len(cfg.Contexts))
			for _, x := range cfg.Contexts {
				views = append(views, contextView{Name: x.Name, Server: x.Server, Project: x.Project, Current: x.Name == cfg.CurrentContext})
			}
			return out.print(a.stdout, views, func(t *table) {
				t.row("CURRENT", "NAME", "SERVER", "PROJECT")
				for _, v := range views {
					mark := " "
					if v.Current {
						mark = "*"
					}
					t.row(mark, v.Name, v.Server, v.Project)
				}
			})
		},
	}
	out.flag(list)
	var ctxName string
	setProject := &cobra.Command{
		Use:   "set-project PROJECT",
		Short: "Set the default project of the current context (or of --context)",
		Args:  args(1, "a project name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.editContext(ctxName, func(cfg *Config, x Context) string {
				x.Project = argv[0]
				cfg.set(x)
				return fmt.Sprintf("context %q now defaults to project %q", x.Name, x.Project)
			})
		},
	}
	setProject.Flags().StringVar(&ctxName, "context", "", "the context to change (default: the current one)")
	cmd.AddCommand(list,
		&cobra.Command{
			Use:   "current-context",
			Short: "Print the current context's name",
			Args:  args(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, path, err := openConfig()
				if err != nil {
					return err
				}
				if cfg.CurrentContext == "" {
					return errs.E(errs.NotFound, "no current context in %s: start 'koya server' or 'koya login'", path)
				}
				fmt.Fprintln(a.stdout, cfg.CurrentContext)
				return nil
			},
		},
		&cobra.Command{
			Use:   "use-context NAME",
			Short: "Make a context the current one",
			Args:  args(1, "a context name"),
			RunE: func(cmd *cobra.Command, argv []string) error {
				return a.editContext(argv[0], func(cfg *Config, x Context) string {
					cfg.CurrentContext = x.Name
					return fmt.Sprintf("switched to context %q (%s)", x.Name, x.Server)
				})
			},
		},
		setProject,
		&cobra.Command{
			Use:   "delete-context NAME",
			Short: "Remove a context (its token stays valid on the server: revoke it there)",
			Args:  args(1, "a context name"),
			RunE: func(cmd *cobra.Command, argv []string) error {
				return a.editContext(argv[0], func(cfg *Config, x Context) string {
					kept := cfg.Contexts[:0]
					for _, c := range cfg.Contexts {
						if c.Name != x.Name {
							kept = append(kept, c)
						}
					}
					cfg.Contexts = kept
					if cfg.CurrentContext == x.Name {
						cfg.CurrentContext = ""
						return fmt.Sprintf("deleted context %q, the current one: pick another with 'koya config use-context'", x.Name)
					}
					return fmt.Sprintf("deleted context %q", x.Name)
				})
			},
		},
	)
	return cmd
}

// contextView is a context as the config commands show it: without its
// token.
type contextView struct {
	Name    string `json:"name"`
	Server  string `json:"server"`
	Project string `json:"project,omitempty"`
	Current bool   `json:"current"`
}

// editContext loads the config, finds the named context (the current one
// if name is empty), applies change, saves the config and prints what
// change says it did.
func (a *app) editContext(name string, change func(cfg *Config, x Context) string) error {
	cfg, path, err := openConfig()
	if err != nil {
		return err
	}
	x, err := cfg.find(name)
	if err != nil {
		return err
	}
	msg := change(&cfg, x)
	if err := cfg.save(path); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, msg)
	return nil
}

// find is the named context (the current one if name is empty), or an
// error that lists the names there are.
func (c Config) find(name string) (Context, error) {
	if x, ok := c.context(name); ok {
		return x, nil
	}
	names := make([]string, 0, len(c.Contexts))
	for _, x := range c.Contexts {
		names = append(names, x.Name)
	}
	have := "there are none: start 'koya server' or 'koya login'"
	if len(names) > 0 {
		have = "there are " + strings.Join(names, ", ")
	}
	if name == "" {
		return Context{}, errs.At(errs.NotFound, "context", "no current context; %s", have)
	}
	return Context{}, errs.At(errs.NotFound, "context", "no context %q; %s", name, have)
}

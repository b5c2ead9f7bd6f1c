package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

// deleteTarget is one object koya delete removes.
type deleteTarget struct{ kind, project, name string }

// deleters are the kinds koya delete removes. Projects are not among
// them: a project's data, keys and audit log are not a command's typo away.
var deleters = map[string]func(cl *client.Client, ctx context.Context, project, name string) error{
	"Workflow": (*client.Client).DeleteWorkflow,
	"Trigger":  (*client.Client).DeleteTrigger,
}

func (a *app) deleteCmd() *cobra.Command {
	var (
		files          []string
		ignoreNotFound bool
		c              conn
	)
	cmd := &cobra.Command{
		Use:   "delete (workflow|trigger) NAME... | delete -f FILE|DIR|-",
		Short: "Delete workflows and triggers, by name or as named in files",
		Long: `Delete workflows and triggers by kind and name, or every one the files
given with -f hold (the files 'koya apply' took). A workflow's runs stay,
as do the runs a trigger started.`,
		RunE: func(cmd *cobra.Command, argv []string) error {
			targets, err := a.deleteTargets(files, argv)
			if err != nil {
				return err
			}
			cl, project, err := c.client(false)
			if err != nil {
				return err
			}
			var missing []string
			for _, t := range targets {
				if t.project == "" {
					t.project = project
				}
				if t.project == "" {
					return usagef("no project for %s/%s: set metadata.project, --project or the context's project", strings.ToLower(t.kind), t.name)
				}
				err := deleters[t.kind](cl, cmd.Context(), t.project, t.name)
				switch {
				case errs.Is(err, errs.NotFound) && ignoreNotFound:
				case errs.Is(err, errs.NotFound):
					missing = append(missing, fmt.Sprintf("%s/%s", strings.ToLower(t.kind), t.name))
				case err != nil:
					return err
				default:
					fmt.Fprintf(a.stdout, "%s/%s deleted from project %s\n", strings.ToLower(t.kind), t.name, t.project)
				}
			}
			if len(missing) > 0 {
				return errs.E(errs.NotFound, "not found: %s", strings.Join(missing, ", "))
			}
			return nil
		},
	}
	c.flags(cmd)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "delete what these files hold: a file, a directory (its .yaml, .yml and .json files) or - for standard input")
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "say nothing of objects that do not exist")
	return cmd
}

// deleteTargets is what to delete: the objects of files, or a kind and
// names from the arguments; never both.
func (a *app) deleteTargets(files, argv []string) ([]deleteTarget, error) {
	if len(files) > 0 {
		if len(argv) > 0 {
			return nil, usagef("give -f FILE or a kind and names, not both")
		}
		srcs, err := a.readSources(files)
		if err != nil {
			return nil, err
		}
		var out []deleteTarget
		for _, src := range srcs {
			objs, err := v1.Parse(src.name, src.data)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				kind, meta := o.GetTypeMeta().Kind, o.GetMetadata()
				if deleters[kind] == nil {
					return nil, errs.At(errs.Invalid, src.name, "koya delete removes workflows and triggers, not a %s (%s)", kind, meta.Name)
				}
				out = append(out, deleteTarget{kind: kind, project: meta.Project, name: meta.Name})
			}
		}
		// Last first: files put what others refer to (a trigger's workflow)
		// before them, as apply needs.
		slices.Reverse(out)
		return out, nil
	}
	if len(argv) < 2 {
		return nil, usagef("name a kind and one or more names (koya delete workflow NAME...), or files with -f")
	}
	var kind string
	switch strings.ToLower(argv[0]) {
	case "workflow", "workflows":
		kind = "Workflow"
	case "trigger", "triggers":
		kind = "Trigger"
	default:
		return nil, usagef("koya delete removes workflows and triggers, not %q", argv[0])
	}
	out := make([]deleteTarget, 0, len(argv)-1)
	for _, name := range argv[1:] {
		out = append(out, deleteTarget{kind: kind, name: name})
	}
	return out, nil
}

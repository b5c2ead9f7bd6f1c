package cli

import (
	"fmt"
	"slices"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/spf13/cobra"
)

func (a *app) getCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "List or show projects, workflows and runs",
		Args:  args(0, "a kind: projects, workflows, workflow NAME, runs, run ID"),
	}
	cmd.AddCommand(a.getProjects(), a.getWorkflows(), a.getWorkflow(), a.getRuns(), a.getRun())
	return cmd
}

// readCmd builds a read command with connection and -o flags.
func (a *app) readCmd(use, short string, nargs int, argNames string, needProject bool,
	run func(cmd *cobra.Command, cl *client.Client, project string, args []string, out *format) error) (*cobra.Command, *conn) {
	var c conn
	var out format
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args(nargs, argNames),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if err := out.check(); err != nil {
				return err
			}
			cl, project, err := c.client(needProject)
			if err != nil {
				return err
			}
			return run(cmd, cl, project, argv, &out)
		},
	}
	c.flags(cmd)
	out.flag(cmd)
	return cmd, &c
}

func (a *app) getProjects() *cobra.Command {
	cmd, _ := a.readCmd("projects", "List the projects your token opens", 0, "no arguments", false,
		func(cmd *cobra.Command, cl *client.Client, _ string, _ []string, out *format) error {
			ps, err := cl.Projects(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			return out.print(a.stdout, ps, func(t *table) {
				t.row("NAME", "DEFAULT BACKEND", "DESCRIPTION", "AGE")
				for _, p := range ps {
					t.row(p.Metadata.Name, p.Spec.DefaultBackend, p.Spec.Description, age(p.Metadata.CreatedAt, now))
				}
			})
		})
	cmd.Aliases = []string{"project"}
	return cmd
}

func (a *app) getWorkflows() *cobra.Command {
	cmd, _ := a.readCmd("workflows", "List the project's workflows", 0, "no arguments", true,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			wfs, err := cl.ListWorkflows(cmd.Context(), project)
			if err != nil {
				return err
			}
			return out.print(a.stdout, wfs, func(t *table) { workflowRows(t, wfs) })
		})
	return cmd
}

func (a *app) getWorkflow() *cobra.Command {
	cmd, _ := a.readCmd("workflow NAME", "Show one workflow", 1, "a workflow name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			wf, err := cl.GetWorkflow(cmd.Context(), project, argv[0])
			if err != nil {
				return err
			}
			return out.print(a.stdout, wf, func(t *table) { workflowRows(t, []v1.Workflow{wf}) })
		})
	return cmd
}

func workflowRows(t *table, wfs []v1.Workflow) {
	now := time.Now()
	t.row("NAME", "VERSION", "STEPS", "UPDATED")
	for _, w := range wfs {
		updated := w.Metadata.UpdatedAt
		if updated.IsZero() {
			updated = w.Metadata.CreatedAt
		}
		t.row(w.Metadata.Name, w.Metadata.Version, len(w.Spec.Steps), age(updated, now))
	}
}

func (a *app) getRuns() *cobra.Command {
	var f client.RunFilter
	var phase string
	cmd, _ := a.readCmd("runs", "List the project's runs, newest first", 0, "no arguments", true,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			f.Phase = v1.Phase(phase)
			runs, err := cl.ListRuns(cmd.Context(), project, f)
			if err != nil {
				return err
			}
			return out.print(a.stdout, runs, func(t *table) { runRows(t, runs) })
		})
	cmd.Flags().StringVar(&f.Workflow, "workflow", "", "only runs of this workflow")
	cmd.Flags().StringVar(&phase, "phase", "", "only runs in this phase (Running, Failed, ...)")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many runs (default 100)")
	cmd.Flags().StringVar(&f.Before, "before", "", "only runs older than this run id")
	return cmd
}

func (a *app) getRun() *cobra.Command {
	cmd, _ := a.readCmd("run ID", "Show one run", 1, "a run id", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			run, err := cl.GetRun(cmd.Context(), project, argv[0])
			if err != nil {
				return err
			}
			return out.print(a.stdout, run, func(t *table) { runRows(t, []v1.Run{run}) })
		})
	return cmd
}

// runRows prints runs; a STEPS column (done/total) when the runs carry
// their steps (one run shown; lists come without them).
func runRows(t *table, runs []v1.Run) {
	now := time.Now()
	withSteps := len(runs) == 1 && len(runs[0].Status.Steps) > 0
	head := []any{"NAME", "WORKFLOW", "PHASE", "AGE", "DURATION", "MESSAGE"}
	if withSteps {
		head = slices.Insert(head, 3, any("STEPS"))
	}
	t.row(head...)
	for _, r := range runs {
		row := []any{r.Metadata.Name, r.Spec.Workflow, r.Status.Phase, age(r.Metadata.CreatedAt, now),
			span(r.Status.StartedAt, r.Status.FinishedAt, now), r.Status.Message}
		if withSteps {
			done := 0
			for _, s := range r.Status.Steps {
				if s.Phase.Done() {
					done++
				}
			}
			row = slices.Insert(row, 3, any(fmt.Sprintf("%d/%d", done, len(r.Status.Steps))))
		}
		t.row(row...)
	}
}

package cli

import (
	"fmt"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/spf13/cobra"
)

func (a *app) runCmd() *cobra.Command {
	var (
		params []string
		follow bool
	)
	cmd, _ := a.readCmd("run WORKFLOW", "Start a run of a workflow", 1, "a workflow name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			req := client.SubmitRequest{Workflow: argv[0], ParamStrings: map[string]string{}}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					return usagef("-p %q: want name=value", p)
				}
				if _, dup := req.ParamStrings[k]; dup {
					return usagef("-p %s is given twice", k)
				}
				req.ParamStrings[k] = v
			}
			run, err := cl.SubmitRun(cmd.Context(), project, req)
			if err != nil {
				return err
			}
			if !follow {
				return out.print(a.stdout, run, func(t *table) { runRows(t, []v1.Run{run}) })
			}
			if out.value == "table" {
				fmt.Fprintf(a.stdout, "run %s submitted\n", run.Metadata.Name)
			}
			return a.followRun(cmd, cl, project, run, out)
		})
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "a parameter, name=value (repeatable)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the run until it ends; exit 1 if it did not succeed")
	return cmd
}

func (a *app) retryCmd() *cobra.Command {
	var follow bool
	cmd, _ := a.readCmd("retry RUN", "Run again what did not succeed in an ended run", 1, "a run id", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			run, err := cl.Retry(cmd.Context(), project, argv[0])
			if err != nil {
				return err
			}
			if !follow {
				return out.print(a.stdout, run, func(t *table) { runRows(t, []v1.Run{run}) })
			}
			if out.value == "table" {
				fmt.Fprintf(a.stdout, "run %s retrying\n", run.Metadata.Name)
			}
			return a.followRun(cmd, cl, project, run, out)
		})
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the run until it ends; exit 1 if it did not succeed")
	return cmd
}

func (a *app) cancelCmd() *cobra.Command {
	cmd, _ := a.readCmd("cancel RUN", "Ask a run to stop", 1, "a run id", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			run, err := cl.Cancel(cmd.Context(), project, argv[0])
			if err != nil {
				return err
			}
			return out.print(a.stdout, run, func(t *table) { runRows(t, []v1.Run{run}) })
		})
	return cmd
}

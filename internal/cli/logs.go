package cli

import (
	"fmt"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/spf13/cobra"
)

func (a *app) logsCmd() *cobra.Command {
	var (
		step   string
		index  int
		follow bool
		c      conn
	)
	cmd := &cobra.Command{
		Use:   "logs RUN",
		Short: "Print a run's log lines (prefixed with step[index] when they come from several tasks)",
		Args:  args(1, "a run id"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			cl, project, err := c.client(true)
			if err != nil {
				return err
			}
			o := client.LogOptions{Step: step, Follow: follow}
			if cmd.Flags().Changed("index") {
				if index < 0 {
					return usagef("--index %d: items count from 0", index)
				}
				o.Index = &index
			}
			run, err := cl.GetRun(cmd.Context(), project, argv[0])
			if err != nil {
				return err
			}
			prefix := !oneTask(run, o)
			for l, err := range cl.StreamLogs(cmd.Context(), project, argv[0], o) {
				if err != nil {
					return err
				}
				if prefix {
					fmt.Fprintf(a.stdout, "%s[%d] %s\n", l.Step, l.Index, l.Text)
				} else {
					fmt.Fprintln(a.stdout, l.Text)
				}
			}
			return nil
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&step, "step", "", "only this step's lines")
	cmd.Flags().IntVar(&index, "index", 0, "only this item of a foreach step")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "go on printing new lines until the run ends")
	return cmd
}

// oneTask says whether the selected lines can only come from one task.
func oneTask(run v1.Run, o client.LogOptions) bool {
	var steps []v1.StepStatus
	for _, s := range run.Status.Steps {
		if o.Step == "" || s.Name == o.Step {
			steps = append(steps, s)
		}
	}
	if len(steps) != 1 {
		return false
	}
	return o.Index != nil || steps[0].Items == 1
}

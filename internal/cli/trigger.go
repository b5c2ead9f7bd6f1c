package cli

import (
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/spf13/cobra"
)

// triggerCmd manages triggers (created with koya apply).
func (a *app) triggerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "trigger", Short: "Inspect and drive triggers (runs started on uploads, schedules and webhooks)", Args: args(0, "a subcommand"),
		Long: `Triggers are created and changed with 'koya apply -f' (kind: Trigger). These
commands list them, show their queues, fire them by hand, suspend and resume
them, and make webhook secrets.`}

	ls, _ := a.readCmd("ls", "List the project's triggers", 0, "no arguments", true,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			ts, err := cl.Triggers(cmd.Context(), project)
			if err != nil {
				return err
			}
			return out.print(a.stdout, ts, func(t *table) { triggerRows(t, ts) })
		})
	ls.Aliases = []string{"list"}

	status, _ := a.readCmd("status [NAME]", "Show triggers' queues: backlog, runs in flight, lag, runs started", 0, "at most one trigger name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			var ts []v1.Trigger
			if len(argv) == 1 {
				t, err := cl.GetTrigger(cmd.Context(), project, argv[0])
				if err != nil {
					return err
				}
				ts = []v1.Trigger{t}
			} else {
				var err error
				if ts, err = cl.Triggers(cmd.Context(), project); err != nil {
					return err
				}
			}
			var v any = ts
			if len(argv) == 1 {
				v = ts[0]
			}
			return out.print(a.stdout, v, func(t *table) { triggerStatusRows(t, ts) })
		})
	status.Args = func(cmd *cobra.Command, got []string) error {
		if len(got) > 1 {
			return usagef("%s takes at most one trigger name", cmd.CommandPath())
		}
		return nil
	}
	status.Long = `Shows, for each trigger (or the one named): BACKLOG, items queued; IN-FLIGHT,
runs started and not ended (at most the trigger's concurrency); LAG, how long
the oldest queued item has waited; STARTED, runs started so far; FAILED,
items that could not start a run (LAST ERROR says why).`

	var file, body string
	fire, _ := a.readCmd("fire NAME", "Queue one run of a trigger by hand", 1, "a trigger name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			req := client.FireRequest{File: file}
			if body != "" {
				if err := json.Unmarshal([]byte(body), &req.Body); err != nil {
					return usagef("--body: not a JSON object: %v", err)
				}
			}
			res, err := cl.FireTrigger(cmd.Context(), project, argv[0], req)
			if err != nil {
				return err
			}
			return out.print(a.stdout, res, func(t *table) {
				t.row("TRIGGER", "QUEUED", "KEY")
				t.row(argv[0], res.Queued, res.Key)
			})
		})
	fire.Long = `Queues one item of the trigger, as its event would: for a datalake trigger,
--file names a file of its channel (its params see it as event.file); for
the others --body gives event.body. The run starts when the trigger has
room under its concurrency.`
	fire.Flags().StringVar(&file, "file", "", "path of the file, in the trigger's channel (datalake triggers)")
	fire.Flags().StringVar(&body, "body", "", "JSON object given to the params as event.body")

	secret, _ := a.readCmd("webhook-secret NAME", "Make a new webhook secret for a trigger (shown once; the old one stops working)", 1, "a trigger name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			res, err := cl.RotateWebhookSecret(cmd.Context(), project, argv[0])
			if err != nil {
				return err
			}
			if err := out.print(a.stdout, res, func(t *table) {
				t.row("TRIGGER", "SECRET", "URL")
				t.row(res.Trigger, res.Secret, cl.Server()+res.URL)
			}); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "keep the secret now: it is never shown again. Call the webhook with\n  curl -X POST -H 'Authorization: Bearer <secret>' -H 'Idempotency-Key: <id>' -d '{...}' %s%s\n", cl.Server(), res.URL)
			return nil
		})

	suspend := a.triggerToggle("suspend", "Stop starting runs (events still queue; schedules skip their slots)", true)
	resume := a.triggerToggle("resume", "Start runs again", false)
	del, _ := a.readCmd("delete NAME", "Delete a trigger and its queue (the runs it started stay)", 1, "a trigger name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, _ *format) error {
			if err := cl.DeleteTrigger(cmd.Context(), project, argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "trigger %s deleted from project %s\n", argv[0], project)
			return nil
		})
	cmd.AddCommand(ls, status, fire, secret, suspend, resume, del)
	return cmd
}

func (a *app) triggerToggle(verb, short string, suspend bool) *cobra.Command {
	cmd, _ := a.readCmd(verb+" NAME", short, 1, "a trigger name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			t, err := cl.SuspendTrigger(cmd.Context(), project, argv[0], suspend)
			if err != nil {
				return err
			}
			return out.print(a.stdout, t, func(tb *table) { triggerRows(tb, []v1.Trigger{t}) })
		})
	return cmd
}

func triggerSource(t v1.Trigger) string {
	s := t.Spec
	switch {
	case s.Datalake != nil:
		src := "datalake:" + s.Datalake.Channel
		if s.Datalake.Filter != "" {
			src += " [" + s.Datalake.Filter + "]"
		}
		return src
	case s.Schedule != nil:
		src := "schedule:" + s.Schedule.Cron
		if s.Schedule.Timezone != "" {
			src += " (" + s.Schedule.Timezone + ")"
		}
		return src
	case s.Webhook != nil:
		return "webhook"
	}
	return "-"
}

func triggerRows(t *table, ts []v1.Trigger) {
	t.row("NAME", "WORKFLOW", "SOURCE", "CONCURRENCY", "SUSPENDED", "VERSION")
	for _, tr := range ts {
		t.row(tr.Metadata.Name, tr.Spec.Workflow, triggerSource(tr), tr.Spec.MaxConcurrency(), tr.Spec.Suspend, tr.Metadata.Version)
	}
}

func triggerStatusRows(t *table, ts []v1.Trigger) {
	t.row("NAME", "BACKLOG", "IN-FLIGHT", "LAG", "STARTED", "FAILED", "LAST ERROR")
	for _, tr := range ts {
		st := tr.Status
		if st == nil {
			st = &v1.TriggerStatus{}
		}
		lag := "-"
		if st.Backlog > 0 {
			lag = short(st.Lag.Duration)
		}
		inflight := fmt.Sprintf("%d/%d", st.InFlight, tr.Spec.MaxConcurrency())
		if tr.Spec.Suspend {
			inflight += " (suspended)"
		}
		last := st.LastError
		if last == "" {
			last = "-"
		} else if st.LastErrorAt != nil {
			last = age(*st.LastErrorAt, time.Now()) + " ago: " + last
		}
		t.row(tr.Metadata.Name, st.Backlog, inflight, lag, st.Started, st.Failed, last)
	}
}

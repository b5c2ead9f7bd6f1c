package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/spf13/cobra"
)

// runDescription is describe's JSON and YAML form.
type runDescription struct {
	Run      v1.Run       `json:"run"`
	Attempts []v1.Attempt `json:"attempts"`
}

func (a *app) describeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "describe", Short: "Show an object in detail", Args: args(0, "a kind: run ID")}
	sub, _ := a.readCmd("run ID", "Show a run's steps and attempts", 1, "a run id", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			run, err := cl.GetRun(cmd.Context(), project, argv[0])
			if err != nil {
				return err
			}
			atts, err := cl.Attempts(cmd.Context(), project, argv[0])
			if err != nil {
				return err
			}
			d := runDescription{Run: run, Attempts: atts}
			if out.value != "table" {
				return out.print(a.stdout, d, nil)
			}
			return describeRun(a.stdout, d, time.Now())
		})
	cmd.AddCommand(sub)
	return cmd
}

func describeRun(w io.Writer, d runDescription, now time.Time) error {
	r := d.Run
	kv := newTable(w)
	kv.row("Name:", r.Metadata.Name)
	kv.row("Project:", r.Metadata.Project)
	kv.row("Workflow:", fmt.Sprintf("%s (version %d)", r.Spec.Workflow, r.Spec.WorkflowVersion))
	kv.row("Phase:", r.Status.Phase)
	if r.Status.Message != "" {
		kv.row("Message:", r.Status.Message)
	}
	if len(r.Spec.Params) > 0 {
		kv.row("Params:", params(r.Spec.Params))
	}
	if r.Spec.RetryOf != "" {
		kv.row("Retry of:", r.Spec.RetryOf)
	}
	kv.row("Created:", fmt.Sprintf("%s (%s ago)", r.Metadata.CreatedAt.Local().Format(time.DateTime), age(r.Metadata.CreatedAt, now)))
	kv.row("Duration:", span(r.Status.StartedAt, r.Status.FinishedAt, now))
	if err := kv.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nSteps:")
	t := newTable(w)
	t.row("  STEP", "PHASE", "ITEMS", "BACKEND", "DURATION", "MESSAGE")
	for _, s := range r.Status.Steps {
		t.row("  "+s.Name, s.Phase, items(s), s.Backend, span(s.StartedAt, s.FinishedAt, now), s.Message)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nAttempts:")
	if len(d.Attempts) == 0 {
		fmt.Fprintln(w, "  none yet")
		return nil
	}
	atts := append([]v1.Attempt(nil), d.Attempts...)
	sort.SliceStable(atts, func(i, j int) bool { return before(atts[i].StartedAt, atts[j].StartedAt) })
	t = newTable(w)
	t.row("  TASK", "ATTEMPT", "PHASE", "BACKEND", "EXIT", "DURATION", "REASON")
	for _, at := range atts {
		t.row(fmt.Sprintf("  %s[%d]", at.Step, at.Index), at.Number, at.Phase, at.Backend, exitText(at.Exit),
			span(at.StartedAt, at.FinishedAt, now), at.Reason)
	}
	return t.flush()
}

// items is "done/total" of a step's tasks.
func items(s v1.StepStatus) string {
	if s.Items == 0 && len(s.Counts) == 0 {
		return "-"
	}
	done := 0
	for p, n := range s.Counts {
		if p.Done() {
			done += n
		}
	}
	return fmt.Sprintf("%d/%d", done, s.Items)
}

func exitText(x *v1.Exit) string {
	if x == nil {
		return "-"
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("code %d", x.Code))
	if x.Signal != 0 {
		parts = append(parts, fmt.Sprintf("signal %d", x.Signal))
	}
	if x.OOMKilled {
		parts = append(parts, "OOM-killed")
	}
	if x.TimedOut {
		parts = append(parts, "timed out")
	}
	if x.Error != "" {
		parts = append(parts, x.Error)
	}
	return strings.Join(parts, ", ")
}

func params(p map[string]any) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		v, _ := json.Marshal(p[k])
		fmt.Fprintf(&b, "%s=%s", k, v)
	}
	return b.String()
}

func before(a, b *time.Time) bool {
	switch {
	case a == nil:
		return false
	case b == nil:
		return true
	}
	return a.Before(*b)
}

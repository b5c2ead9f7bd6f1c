package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// followRun shows a run until it ends: on a terminal a table of its steps
// redrawn on every change, elsewhere one line per step change. With -o
// json or yaml only the final run is printed. A run that did not succeed
// exits 1.
func (a *app) followRun(cmd *cobra.Command, cl *client.Client, project string, run v1.Run, out *format) error {
	var view progress
	switch {
	case out.value != "table":
		view = quiet{}
	case isTerminal(a.stdout):
		view = &liveTable{w: a.stdout}
	default:
		view = &plainLines{w: a.stdout, seen: map[string]string{}}
	}
	last := run
	for r, err := range cl.Watch(cmd.Context(), project, run.Metadata.Name) {
		if err != nil {
			return err
		}
		last = r
		view.show(r)
	}
	if out.value != "table" {
		if err := out.print(a.stdout, last, nil); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "run %s %s", last.Metadata.Name, last.Status.Phase)
		if last.Status.Message != "" {
			fmt.Fprintf(a.stdout, ": %s", last.Status.Message)
		}
		fmt.Fprintln(a.stdout)
		if last.Status.Phase == v1.Failed {
			a.showFailures(cmd.Context(), cl, project, last)
		}
	}
	if !last.Status.Phase.Ok() {
		return exitError{ExitFailed}
	}
	return nil
}

// shownFailures is how many failed tasks of a step the end of a followed
// run lists: enough to see what went wrong, not a fan-out's worth.
const shownFailures = 5

// showFailures lists the failed tasks of each failed step (their exit and
// message) and the command that shows their logs, so that a failed run
// says why without a describe. It is best effort: the run's end is
// already printed.
func (a *app) showFailures(ctx context.Context, cl *client.Client, project string, r v1.Run) {
	for _, s := range r.Status.Steps {
		if s.Phase != v1.Failed {
			continue
		}
		tasks, err := cl.Tasks(ctx, project, r.Metadata.Name, s.Name)
		if err != nil {
			continue
		}
		var failed []v1.Task
		for _, t := range tasks {
			if t.Phase == v1.Failed || t.Phase == v1.Lost {
				failed = append(failed, t)
			}
		}
		if len(failed) == 0 {
			continue
		}
		t := newTable(a.stdout)
		t.row("  TASK", "PHASE", "ATTEMPTS", "EXIT", "MESSAGE")
		for _, f := range failed[:min(len(failed), shownFailures)] {
			t.row(fmt.Sprintf("  %s[%d]", f.Step, f.Index), f.Phase, f.Attempts, exitText(f.Exit), f.Message)
		}
		_ = t.flush()
		if more := len(failed) - shownFailures; more > 0 {
			fmt.Fprintf(a.stdout, "  ... and %d more failed tasks\n", more)
		}
		fmt.Fprintf(a.stdout, "  logs: koya logs %s --step %s\n", r.Metadata.Name, s.Name)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

type progress interface{ show(v1.Run) }

type quiet struct{}

func (quiet) show(v1.Run) {}

// plainLines prints "step train 3/10 Running" when a step's phase or
// progress changes: readable in logs and pipes.
type plainLines struct {
	w    io.Writer
	seen map[string]string
}

func (p *plainLines) show(r v1.Run) {
	for _, s := range r.Status.Steps {
		line := fmt.Sprintf("step %s %s %s", s.Name, items(s), s.Phase)
		if s.Message != "" && s.Phase.Done() && !s.Phase.Ok() {
			line += ": " + s.Message
		}
		if p.seen[s.Name] != line {
			p.seen[s.Name] = line
			fmt.Fprintln(p.w, line)
		}
	}
}

// liveTable redraws the steps table in place with ANSI cursor moves.
type liveTable struct {
	w     io.Writer
	lines int // lines drawn last time
}

func (l *liveTable) show(r v1.Run) {
	var b strings.Builder
	t := newTable(&b)
	now := time.Now()
	t.row("STEP", "PHASE", "ITEMS", "BACKEND", "DURATION", "MESSAGE")
	for _, s := range r.Status.Steps {
		t.row(s.Name, s.Phase, items(s), s.Backend, span(s.StartedAt, s.FinishedAt, now), s.Message)
	}
	_ = t.flush()
	if l.lines > 0 {
		fmt.Fprintf(l.w, "\x1b[%dA", l.lines) // up to where the last table began
	}
	for _, line := range strings.SplitAfter(strings.TrimSuffix(b.String(), "\n"), "\n") {
		fmt.Fprintf(l.w, "\x1b[2K%s", line) // clear each line before writing it
	}
	fmt.Fprintln(l.w)
	l.lines = strings.Count(b.String(), "\n")
}

package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

// projectCmd groups project administration: its encryption keys (owners).
func (a *app) projectCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Administer a project's encryption keys (owners)", Args: args(0, "a subcommand"),
		Long: `Every artifact and log line of a project is encrypted with the project's own
key. 'rotate-key' makes a new primary key: new data uses it at once, old data
still reads, and a background job moves old data to it. Once that is done,
'disable-key' makes the old key unusable; anything still under it then fails
loudly (and 'enable-key' undoes it).`}
	keys, _ := a.readCmd("keys", "List the project's keys and how much data each encrypts", 0, "no arguments", true,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			pk, err := cl.Keys(cmd.Context(), project, true)
			if err != nil {
				return err
			}
			return out.print(a.stdout, pk, func(t *table) { keyRows(t, pk) })
		})
	cmd.AddCommand(keys,
		a.rewrapCmd("rotate-key", "Make a new primary key and move the project's data to it", (*client.Client).RotateKey),
		a.rewrapCmd("rewrap", "Move the project's data to its primary key again (after items failed, or a server with stale keys wrote under an old one)", (*client.Client).RewrapKeys),
		a.keyStatusCmd("disable-key ID", "Make data under a key unreadable (refused while data is left under it)", (*client.Client).DisableKey),
		a.keyStatusCmd("enable-key ID", "Make a disabled key's data readable again", (*client.Client).EnableKey))
	return cmd
}

// rewrapCmd starts moving data to the primary key with start and, with
// --wait, shows the progress on standard error until it ends.
func (a *app) rewrapCmd(use, short string, start func(*client.Client, context.Context, string) (client.ProjectKeys, error)) *cobra.Command {
	var wait bool
	cmd, _ := a.readCmd(use, short, 0, "no arguments", true,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			pk, err := start(cl, cmd.Context(), project)
			if err != nil {
				return err
			}
			if wait {
				if pk, err = a.waitRewrap(cmd.Context(), cl, project); err != nil {
					return err
				}
			}
			if err := out.print(a.stdout, pk, func(t *table) { rewrapSummary(t, pk, wait) }); err != nil {
				return err
			}
			if rw := pk.Rewrap; wait && rw != nil && (rw.Failed > 0 || rw.Error != "") {
				return errs.E(errs.Internal, "%d items could not be moved to key %d (last error: %s); the keys they are under cannot be disabled", rw.Failed, rw.Key, rw.Error)
			}
			return nil
		})
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the data is moved, showing progress on standard error")
	return cmd
}

// keyStatusCmd disables or enables a key.
func (a *app) keyStatusCmd(use, short string, change func(*client.Client, context.Context, string, uint32) (client.ProjectKeys, error)) *cobra.Command {
	cmd, _ := a.readCmd(use, short, 1, "a key id (see 'koya project keys')", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			id, err := strconv.ParseUint(argv[0], 10, 32)
			if err != nil {
				return usagef("%q is not a key id (see 'koya project keys')", argv[0])
			}
			pk, err := change(cl, cmd.Context(), project, uint32(id))
			if err != nil {
				return err
			}
			return out.print(a.stdout, pk, func(t *table) { keyRows(t, pk) })
		})
	return cmd
}

// waitRewrap polls the project's keys until its move to the primary key
// ends, drawing a progress line on standard error.
func (a *app) waitRewrap(ctx context.Context, cl *client.Client, project string) (client.ProjectKeys, error) {
	bar := &progressLine{w: a.stderr, tty: isTerminal(a.stderr)}
	defer bar.done()
	for {
		pk, err := cl.Keys(ctx, project, false)
		if err != nil {
			return pk, err
		}
		rw := pk.Rewrap
		if rw == nil {
			return pk, errs.E(errs.Conflict, "no move of project %s's data is known to this server (it may have restarted): start one with 'koya project rewrap'", project)
		}
		bar.show(rw)
		if !rw.Running {
			return pk, nil
		}
		select {
		case <-ctx.Done():
			return pk, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// progressLine draws "moving data to key K [####      ] done/total": one
// line redrawn in place on a terminal, elsewhere a line per change.
type progressLine struct {
	w    io.Writer
	tty  bool
	last string
}

func (p *progressLine) show(rw *client.Rewrap) {
	const width = 30
	filled := width
	if rw.Total > 0 {
		filled = int(min(rw.Done+rw.Failed, rw.Total) * width / rw.Total)
	}
	line := fmt.Sprintf("moving data to key %d [%s%s] %d/%d", rw.Key, strings.Repeat("#", filled), strings.Repeat(" ", width-filled), rw.Done, rw.Total)
	if rw.Failed > 0 {
		line += fmt.Sprintf(", %d failed", rw.Failed)
	}
	if line == p.last {
		return
	}
	p.last = line
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressLine) done() {
	if p.tty && p.last != "" {
		fmt.Fprintln(p.w)
	}
}

func keyRows(t *table, pk client.ProjectKeys) {
	t.row("KEY", "STATUS", "CREATED", "ARTIFACTS", "DATALAKE", "LOG LINES", "SECRETS")
	now := time.Now()
	for _, k := range pk.Keys {
		status := "enabled"
		switch {
		case k.Primary:
			status = "primary"
		case !k.Enabled:
			status = "disabled"
		}
		counts := []any{"-", "-", "-", "-"}
		if pk.Counted {
			counts = []any{k.Artifacts, k.DataObjects, k.LogLines, k.Secrets}
		}
		t.row(append([]any{k.ID, status, age(k.Created, now)}, counts...)...)
	}
	if pk.UnencryptedArtifacts > 0 {
		t.row("(none)", "unencrypted", "-", pk.UnencryptedArtifacts, "-", "-", "-")
	}
	if rw := pk.Rewrap; rw != nil {
		// One cell: not part of the columns above.
		state := "done"
		if rw.Running {
			state = "running"
		}
		line := fmt.Sprintf("move to key %d (started %s ago): %s, %d/%d moved", rw.Key, age(rw.Started, now), state, rw.Done, rw.Total)
		if rw.Failed > 0 {
			line += fmt.Sprintf(", %d failed (%s)", rw.Failed, rw.Error)
		}
		t.row(line)
	}
}

func rewrapSummary(t *table, pk client.ProjectKeys, waited bool) {
	rw := pk.Rewrap
	if rw == nil {
		keyRows(t, pk)
		return
	}
	if !waited {
		t.row(fmt.Sprintf("key %d is the primary key of project %s; moving the project's data to it ('koya project keys' shows the progress)", rw.Key, pk.Project))
		return
	}
	t.row(fmt.Sprintf("moved %d of %d items of project %s to key %d", rw.Done, rw.Total, pk.Project, rw.Key))
}

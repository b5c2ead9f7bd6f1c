package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake"
	"github.com/koya-dev/koya/internal/pipecopy"
	"github.com/spf13/cobra"
)

func (a *app) dataPullCmd() *cobra.Command {
	var channel, q string
	var verify bool
	cmd := a.dataRead("pull [PATH] DEST", "Download a file, or every file a query matches, to DEST", rangeArgs(1, 2, "a file path and a destination, or --query and a destination"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, _ *format) error {
			ctx := cmd.Context()
			dest := argv[len(argv)-1]
			if (len(argv) == 2) == (q != "") {
				return usagef("give a file path or --query, and a destination")
			}
			if len(argv) == 2 {
				if channel == "" {
					return usagef("--channel is required to pull one file")
				}
				target := dest
				if st, err := os.Stat(dest); (err == nil && st.IsDir()) || strings.HasSuffix(dest, string(os.PathSeparator)) {
					t, err := within(dest, filepath.Base(filepath.FromSlash(argv[0])))
					if err != nil {
						return err
					}
					target = t
				}
				prog := a.pullProgress(1, -1)
				defer prog.stop()
				return a.pullOne(ctx, cl, project, channel, argv[0], target, verify, prog)
			}
			files, err := findAll(cmd, cl, project, client.FindOptions{Query: q, Channel: channel}, 0)
			if err != nil {
				return err
			}
			var total int64
			for _, f := range files {
				total += f.Size
			}
			prog := a.pullProgress(len(files), total)
			defer prog.stop()
			for _, f := range files {
				rel := f.Path
				if channel == "" {
					rel = f.Channel + "/" + f.Path
				}
				target, err := within(dest, rel)
				if err != nil {
					return err
				}
				if err := a.pullOne(ctx, cl, project, f.Channel, f.Path, target, verify, prog); err != nil {
					return err
				}
			}
			prog.stop()
			fmt.Fprintf(a.stderr, "pulled %d files (%s) to %s\n", len(files), bytesOf(total), dest)
			return nil
		})
	cmd.Long = `Downloads one file of a channel to DEST (a file, or a directory to put it
in), or with --query every matching file under the directory DEST, at its
path in the channel (under its channel's name without --channel). Files are
written whole or not at all (through a temporary file, fsynced before it is
renamed), checked against the CRC-32C the server computed as they went in
(--verify-digest: against their SHA-256, at ten times the CPU), and no path
may lead out of DEST.`
	channelFlag(cmd, &channel, false)
	cmd.Flags().StringVar(&q, "query", "", "pull every file matching this query")
	cmd.Flags().BoolVar(&verify, "verify-digest", false, "check each file against its SHA-256 digest, not its CRC-32C")
	return cmd
}

// within joins a channel path to dest, refusing one that would leave it.
func within(dest, rel string) (string, error) {
	if err := datalake.ValidatePath(filepath.ToSlash(rel)); err != nil {
		return "", errs.E(errs.Invalid, "refusing to write %q: %v", rel, err)
	}
	p := filepath.Join(dest, filepath.FromSlash(rel))
	r, err := filepath.Rel(dest, p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(os.PathSeparator)) || filepath.IsAbs(r) {
		return "", errs.E(errs.Invalid, "refusing to write %q outside %s", rel, dest)
	}
	return p, nil
}

// pullProgress shows a pull of files of total bytes (-1: known once the
// download starts) on a terminal, or a line per file elsewhere.
func (a *app) pullProgress(files int, total int64) *pushProgress {
	p := newPushProgress(a.stdout, isTerminal(a.stdout), files, max(total, 0))
	p.verb = "pulled"
	return p
}

// pullOne downloads a file to target through a temporary file next to it,
// renamed into place once complete and checked (verify: its digest).
func (a *app) pullOne(ctx context.Context, cl *client.Client, project, channel, p, target string, verify bool, prog *pushProgress) error {
	rd, err := cl.GetFile(ctx, project, channel, p)
	if err != nil {
		return err
	}
	defer rd.Close()
	if prog.files == 1 && rd.Size > 0 {
		prog.total.CompareAndSwap(0, rd.Size) // one file: its size is known now
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return errs.Wrap(errs.Invalid, err, "cannot write %s: %v", target, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.part")
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "cannot write %s: %v", target, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	// Reading the socket, writing the file and checking overlap on three
	// goroutines. The file goes through the page cache, where the user's
	// next step will read it, and to the disk at the fsync below: on one
	// machine the server is reading the disk meanwhile, and the two
	// contend (on the benchmark VM a direct write during the read made the
	// pull slower, not faster).
	sums, check := rd.Checker(verify)
	n, err := pipecopy.Copy(io.MultiWriter(tmp, prog), rd, sums)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "download of %s cut: %v", p, err)
	}
	if rd.Size >= 0 && n != rd.Size {
		return errs.E(errs.Unavailable, "download of %s cut: %d of %d bytes", p, n, rd.Size)
	}
	if err := check(); err != nil {
		return errs.Wrap(errs.Internal, err, "%s: %v", p, err)
	}
	// On disk before it takes the target's name: a crash leaves the old
	// file or the new one, never an empty or partial one under the name.
	if err := tmp.Sync(); err != nil {
		return errs.Wrap(errs.Invalid, err, "cannot write %s: %v", target, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return errs.Wrap(errs.Invalid, err, "cannot write %s: %v", target, err)
	}
	prog.doneFile(channel, p, target, n, nil)
	return nil
}

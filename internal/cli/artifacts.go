package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

func (a *app) artifactsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "artifacts", Short: "Download the outputs of runs", Args: args(0, "a subcommand: ls or get")}
	var (
		c     conn
		index int
		dest  string
	)
	get := &cobra.Command{
		Use:   "get RUN STEP OUTPUT",
		Short: "Download one output of a task (a directory comes as a tar stream)",
		Args:  args(3, "a run id, a step and an output name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			cl, project, err := c.client(true)
			if err != nil {
				return err
			}
			if index < 0 {
				return usagef("--index %d: items count from 0", index)
			}
			art, err := cl.DownloadArtifact(cmd.Context(), project, argv[0], argv[1], index, argv[2])
			if err != nil {
				return err
			}
			defer art.Close()
			if dest == "" {
				dest = argv[2]
				if art.Dir {
					dest += ".tar"
				}
			}
			return a.save(dest, art, art.Digest)
		},
	}
	c.flags(get)
	get.Flags().IntVar(&index, "index", 0, "item of a foreach step")
	get.Flags().StringVarP(&dest, "output", "o", "", "file to write (- for standard output; default: the output's name)")
	cmd.AddCommand(get, a.artifactsLs())
	return cmd
}

// artifactRow is one output of one task, as artifacts ls shows it.
type artifactRow struct {
	Step   string `json:"step"`
	Index  int    `json:"index"`
	Output string `json:"output"`
	Dir    bool   `json:"dir,omitempty"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
}

// artifactsLs lists what a run's tasks output, so that 'artifacts get'
// can be given names without reading the workflow.
func (a *app) artifactsLs() *cobra.Command {
	var step string
	cmd, _ := a.readCmd("ls RUN", "List the outputs of a run's tasks (step, item, name, size, digest)", 1, "a run id", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			tasks, err := cl.Tasks(cmd.Context(), project, argv[0], step)
			if err != nil {
				return err
			}
			rows := []artifactRow{}
			for _, t := range tasks {
				names := slices.Sorted(maps.Keys(t.Outputs))
				for _, name := range names {
					o := t.Outputs[name]
					rows = append(rows, artifactRow{Step: t.Step, Index: t.Index, Output: name, Dir: o.Dir, Size: o.Size, Digest: o.Digest})
				}
			}
			return out.print(a.stdout, rows, func(t *table) {
				t.row("TASK", "OUTPUT", "KIND", "SIZE", "DIGEST")
				for _, r := range rows {
					kind := "file"
					if r.Dir {
						kind = "dir"
					}
					t.row(fmt.Sprintf("%s[%d]", r.Step, r.Index), r.Output, kind, bytesOf(r.Size), shortDigest(r.Digest))
				}
			})
		})
	cmd.Flags().StringVar(&step, "step", "", "only this step's outputs")
	return cmd
}

// shortDigest is "sha256:" and the first 12 hex digits: enough to tell
// outputs apart in a table (-o json has them whole).
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// save copies r to dest (or stdout for "-"), checking the digest: a file
// whose bytes do not match is removed rather than left looking complete.
func (a *app) save(dest string, r io.Reader, digest string) error {
	h := sha256.New()
	var w io.Writer = a.stdout
	var f *os.File
	if dest != "-" {
		var err error
		tmp := filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".part")
		if f, err = os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644); err != nil {
			return errs.Wrap(errs.Invalid, err, "cannot write %s: %v", dest, err)
		}
		defer os.Remove(tmp)
		defer f.Close()
		w = f
	}
	if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
		return errs.Wrap(errs.Unavailable, err, "download cut: %v", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); digest != "" && got != digest {
		return errs.E(errs.Internal, "downloaded bytes have digest %s, not %s as the server said", got, digest)
	}
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), dest); err != nil {
		return errs.Wrap(errs.Invalid, err, "cannot write %s: %v", dest, err)
	}
	fmt.Fprintf(a.stderr, "wrote %s\n", dest)
	return nil
}

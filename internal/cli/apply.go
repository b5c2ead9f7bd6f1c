package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

func (a *app) applyCmd() *cobra.Command {
	var (
		files []string
		dry   bool
		c     conn
		out   format
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update the objects of YAML or JSON files",
		Long: `Create or update every object (Project, Workflow, ...) of the files given.
Applying the same files again changes nothing. Documents that name no
metadata.project go to the current project.`,
		Args: args(0, "no arguments (name files with -f)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("name the files to apply with -f FILE, -f DIR or -f -")
			}
			if err := out.check(); err != nil {
				return err
			}
			srcs, err := a.readSources(files)
			if err != nil {
				return err
			}
			cl, project, err := c.client(false)
			if err != nil {
				return err
			}
			all := client.ApplyResult{DryRun: dry, Objects: []client.Applied{}}
			for _, src := range srcs {
				res, err := cl.Apply(cmd.Context(), bytes.NewReader(src.data), client.ApplyOptions{Project: project, Filename: src.name, DryRun: dry})
				if err != nil {
					return err
				}
				all.Objects = append(all.Objects, res.Objects...)
				if out.value == "table" {
					for _, o := range res.Objects {
						fmt.Fprintf(a.stdout, "%s/%s %s%s\n", strings.ToLower(o.Kind), o.Name, o.Action, dryNote(dry))
					}
				}
			}
			if out.value != "table" {
				return out.print(a.stdout, all, nil)
			}
			return nil
		},
	}
	c.flags(cmd)
	out.flag(cmd)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a file, a directory (its .yaml, .yml and .json files) or - for standard input")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "say what would change, change nothing")
	return cmd
}

func dryNote(dry bool) string {
	if dry {
		return " (dry run)"
	}
	return ""
}

// source is one file's bytes and the name errors refer to it by.
type source struct {
	name string
	data []byte
}

// readSources reads files, directories (sorted, recursively) and stdin.
func (a *app) readSources(args []string) ([]source, error) {
	var out []source
	for _, arg := range args {
		if arg == "-" {
			b, err := io.ReadAll(a.stdin)
			if err != nil {
				return nil, errs.Wrap(errs.Invalid, err, "cannot read standard input: %v", err)
			}
			out = append(out, source{name: "<stdin>", data: b})
			continue
		}
		info, err := os.Stat(arg)
		if err != nil {
			return nil, errs.At(errs.NotFound, arg, "cannot read: %v", unwrapPathError(err))
		}
		if !info.IsDir() {
			b, err := os.ReadFile(arg)
			if err != nil {
				return nil, errs.At(errs.Invalid, arg, "cannot read: %v", unwrapPathError(err))
			}
			out = append(out, source{name: arg, data: b})
			continue
		}
		var names []string
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					names = append(names, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, errs.At(errs.Invalid, arg, "cannot read: %v", err)
		}
		if len(names) == 0 {
			return nil, errs.At(errs.Invalid, arg, "the directory holds no .yaml, .yml or .json file")
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, errs.At(errs.Invalid, n, "cannot read: %v", unwrapPathError(err))
			}
			out = append(out, source{name: n, data: b})
		}
	}
	return out, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

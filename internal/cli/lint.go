package cli

import (
	"errors"
	"fmt"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

func (a *app) lintCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "lint -f FILE|DIR|-",
		Short: "Check files offline and print every problem as file:line:col: message",
		Args:  args(0, "no arguments (name files with -f)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("name the files to check with -f FILE, -f DIR or -f -")
			}
			srcs, err := a.readSources(files)
			if err != nil {
				return err
			}
			problems := 0
			for _, src := range srcs {
				for _, e := range lintSource(src) {
					problems++
					fmt.Fprintln(a.stdout, lintLine(src.name, e))
				}
			}
			if problems > 0 {
				fmt.Fprintf(a.stderr, "%d problem(s)\n", problems)
				return exitError{ExitFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a file, a directory (its .yaml, .yml and .json files) or - for standard input")
	return cmd
}

// lintSource parses one file: every problem it has, positioned.
func lintSource(src source) errs.List {
	_, err := v1.Parse(src.name, src.data)
	if err == nil {
		return nil
	}
	return asList(err)
}

// asList flattens an error into the list of problems it holds.
func asList(err error) errs.List {
	var l errs.List
	if errors.As(err, &l) {
		return l
	}
	var e *errs.Error
	if errors.As(err, &e) {
		if errors.As(e.Err, &l) {
			return l
		}
		return errs.List{e}
	}
	return errs.List{errs.Wrap(errs.Invalid, err, "%v", err)}
}

// lintLine is "file:line:col: message"; an error placed by a field path
// only gets the file name in front.
func lintLine(file string, e *errs.Error) string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	switch {
	case e.Where == "":
		return fmt.Sprintf("%s: %s", file, msg)
	case len(e.Where) > len(file) && e.Where[:len(file)+1] == file+":":
		return fmt.Sprintf("%s: %s", e.Where, msg)
	}
	return fmt.Sprintf("%s: %s: %s", file, e.Where, msg)
}

func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of koya's documents (for editors and linters)",
		Args:  args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := v1.JSONSchema()
			if _, err := a.stdout.Write(b); err != nil {
				return err
			}
			if len(b) > 0 && b[len(b)-1] != '\n' {
				fmt.Fprintln(a.stdout)
			}
			return nil
		},
	}
}

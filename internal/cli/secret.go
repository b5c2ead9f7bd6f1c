package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/internal/server"
	"github.com/spf13/cobra"
)

// secretCmd manages project secrets.
func (a *app) secretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Manage a project's secrets (write-only values for the steps that list them)", Args: args(0, "a subcommand")}
	var literal, file string
	set, _ := a.readCmd("set NAME", "Store a secret's value (a new version); it is never shown again", 1, "a secret name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			value, err := a.secretValue(cmd, literal, file)
			if err != nil {
				return err
			}
			defer clear(value)
			sec, err := cl.SetSecret(cmd.Context(), project, argv[0], value)
			if err != nil {
				return err
			}
			return out.print(a.stdout, sec, func(t *table) { secretRows(t, []client.Secret{sec}) })
		})
	set.Long = `Stores a value as the secret NAME of the project: encrypted with the
project's key, never shown again (not even to its owners), and given only to
the tasks of steps that list it under secrets:, as the environment variable
NAME and a file in memory named by $KOYA_SECRET_FILE_NAME. Their log lines
show *** in its place.

The value comes from --from-literal (beware: shell history keeps it),
--from-file (its bytes as they are), or standard input (without one trailing
newline, so that 'echo "$TOKEN" | koya secret set NAME' does what it says).
At most 64 KiB.`
	set.Flags().StringVar(&literal, "from-literal", "", "the value itself")
	set.Flags().StringVar(&file, "from-file", "", "read the value from this file")

	list, _ := a.readCmd("list", "List the project's secrets: names and versions, never values", 0, "no arguments", true,
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			ls, err := cl.Secrets(cmd.Context(), project)
			if err != nil {
				return err
			}
			return out.print(a.stdout, ls, func(t *table) { secretRows(t, ls) })
		})
	del, _ := a.readCmd("delete NAME", "Erase a secret (steps that list it fail from then on)", 1, "a secret name", true,
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, _ *format) error {
			if err := cl.DeleteSecret(cmd.Context(), project, argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "secret %s deleted from project %s\n", argv[0], project)
			return nil
		})
	cmd.AddCommand(set, list, del)
	return cmd
}

// secretValue reads the value from the one source the flags name.
func (a *app) secretValue(cmd *cobra.Command, literal, file string) ([]byte, error) {
	fromLiteral, fromFile := cmd.Flags().Changed("from-literal"), cmd.Flags().Changed("from-file")
	switch {
	case fromLiteral && fromFile:
		return nil, usagef("give the value with one of --from-literal, --from-file or standard input")
	case fromLiteral:
		return []byte(literal), nil
	case fromFile:
		f, err := os.Open(file)
		if err != nil {
			return nil, usagef("--from-file: %v", err)
		}
		defer f.Close()
		return readValue(f, "--from-file "+file)
	}
	if f, ok := a.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(a.stderr, "reading the value from standard input (end with Ctrl-D; --from-file or --from-literal to give it otherwise)")
		}
	}
	b, err := readValue(a.stdin, "standard input")
	if err != nil {
		return nil, err
	}
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2], nil
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

// readValue reads at most one byte more than a secret may hold, so that
// a big file is refused without being read whole.
func readValue(r io.Reader, from string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, server.MaxSecretBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the value from %s: %v", from, err)
	}
	if len(b) > server.MaxSecretBytes {
		return nil, usagef("the value in %s is larger than the %d KiB a secret may hold", from, server.MaxSecretBytes>>10)
	}
	return b, nil
}

func secretRows(t *table, ls []client.Secret) {
	now := time.Now()
	t.row("NAME", "VERSION", "CREATED BY", "AGE")
	for _, s := range ls {
		t.row(s.Name, s.Version, s.CreatedBy, age(s.CreatedAt, now))
	}
}

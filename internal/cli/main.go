// Package cli is the koya command line: the server, the agent, and the
// client commands (apply, run, get, describe, logs, ...) that talk to a
// server through package client.
//
// Exit codes: 0 ok, 1 a general failure (or a followed run that failed),
// 2 a usage error, 3 something not found, 4 unauthenticated or forbidden.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitFailed    = 1
	ExitUsage     = 2
	ExitNotFound  = 3
	ExitForbidden = 4
)

// Version is the koya version, set at build time with
// -ldflags "-X github.com/koya-dev/koya/internal/cli.Version=v1.2.3".
var Version = "dev"

// Main runs koya with args (without the program name) on the process's
// standard streams and returns the exit code.
func Main(ctx context.Context, args []string) int {
	return Run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// Run is Main with explicit streams (for tests).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := app.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ex exitError
	if errors.As(err, &ex) {
		return ex.code // the command already said why
	}
	fmt.Fprintln(stderr, "error: "+message(err).Error())
	return exitCode(err)
}

// exitError ends a command with a code after it has printed what it had
// to say (a followed run that failed, lint findings).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// message is the user's view of err: "<where>: <message>" for koya errors.
func message(err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		p := errs.Public(e)
		if e.Code == errs.Internal && e.Message != "" {
			p.Message = e.Message // our own internal errors carry a useful message
		}
		return p
	}
	return err
}

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command ") {
		return ExitUsage
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		return ExitFailed
	}
	switch e.Code {
	case errs.NotFound:
		return ExitNotFound
	case errs.Unauthenticated, errs.Forbidden:
		return ExitForbidden
	}
	return ExitFailed
}

// app holds the streams and what the global flags set.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "koya",
		Short: "koya: a self-hostable machine-learning platform",
		Long: `koya runs machine-learning workflows on local processes, containers or Kubernetes.

Start a server with 'koya server'; it writes ~/.koya/config.yaml so that the
other commands find it. Apply workflows with 'koya apply -f', run them with
'koya run', and follow them with 'koya get', 'koya describe' and 'koya logs'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see 'koya %s --help')", err, c.Name())}
	})
	root.AddCommand(
		a.serverCmd(), a.agentCmd(),
		a.applyCmd(), a.lintCmd(), a.schemaCmd(),
		a.runCmd(), a.getCmd(), a.describeCmd(), a.logsCmd(),
		a.cancelCmd(), a.retryCmd(), a.artifactsCmd(), a.versionCmd(),
		a.deleteCmd(), a.loginCmd(), a.configCmd(), a.whoamiCmd(), a.userCmd(), a.tokenCmd(), a.memberCmd(), a.serviceAccountCmd(), a.auditCmd(),
	)
	for _, c := range []*cobra.Command{a.projectCmd(), a.secretCmd(), a.triggerCmd(), a.dataCmd()} {
		if c != nil {
			root.AddCommand(c)
		}
	}
	return root
}

// args checks positional arguments, as a usage error.
func args(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		if len(got) != n {
			return usagef("%s takes %s (see '%s --help')", cmd.CommandPath(), names, cmd.CommandPath())
		}
		return nil
	}
}

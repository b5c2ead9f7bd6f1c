package cli

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/koya-dev/koya/internal/agent"
	"github.com/spf13/cobra"
)

func (a *app) versionCmd() *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print koya's version (and the server's, when one is configured)",
		Args:  args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "koya %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			cl, _, err := c.client(false)
			if err != nil {
				return nil // no server configured: the client's version is all there is
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			defer cancel()
			if h, err := cl.Health(ctx); err == nil {
				fmt.Fprintf(a.stdout, "server %s at %s\n", h.Version, cl.Server())
			}
			return nil
		},
	}
	c.flags(cmd)
	return cmd
}

func (a *app) agentCmd() *cobra.Command {
	var manifest, root, version string
	cmd := &cobra.Command{
		Use:   "agent --manifest PATH | --host ROOT",
		Short: "Run one task attempt, or the local backend's agent host (started by backends)",
		Long: `With --manifest, runs the attempt of one manifest (inside a container or
pod). With --host, serves every attempt of a local backend's root from one
detached process; the local backend starts it when it needs it.`,
		Args: args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var code int
			switch {
			case (manifest == "") == (root == ""):
				return usagef("one of --manifest or --host is required")
			case root != "":
				code = agent.RunHost(cmd.Context(), root, version)
			default:
				code = agent.Run(cmd.Context(), manifest)
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manifest, "manifest", "", "the attempt's manifest.json")
	cmd.Flags().StringVar(&root, "host", "", "serve the attempts of this local backend root")
	cmd.Flags().StringVar(&version, "host-version", "", "the version the host reports (set by the local backend)")
	return cmd
}

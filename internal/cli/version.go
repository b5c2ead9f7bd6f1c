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
	var manifest string
	cmd := &cobra.Command{
		Use:    "agent --manifest PATH",
		Short:  "Run one task attempt (started by backends inside every task)",
		Args:   args(0, "no arguments"),
		Hidden: false,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if manifest == "" {
				return usagef("--manifest is required")
			}
			if code := agent.Run(cmd.Context(), manifest); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manifest, "manifest", "", "the attempt's manifest.json")
	return cmd
}

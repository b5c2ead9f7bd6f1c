// Command koya-agent-test is the agent alone, for tests of the local
// backend before (and without) the full koya binary: it takes the same
// arguments as `koya agent --manifest <path>`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/koya-dev/koya/internal/agent"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "agent" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	manifest := fs.String("manifest", "", "path of the task manifest")
	root := fs.String("host", "", "serve the attempts of this root")
	version := fs.String("host-version", "", "the version the host reports")
	_ = fs.Parse(args)
	if *root != "" {
		os.Exit(agent.RunHost(context.Background(), *root, *version))
	}
	if *manifest == "" {
		fmt.Fprintln(os.Stderr, "usage: koya-agent-test agent --manifest <path> | --host <root>")
		os.Exit(2)
	}
	os.Exit(agent.Run(context.Background(), *manifest))
}

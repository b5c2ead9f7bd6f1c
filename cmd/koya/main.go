// Command koya is the whole platform in one binary: the server, the agent
// that wraps every task, and the command line (see internal/cli).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/koya-dev/koya/internal/cli"
)

func main() {
	// KOYA_CPUPROFILE=file profiles this process until it exits normally
	// (for `koya server`: SIGTERM or SIGINT), for go tool pprof;
	// KOYA_AGENT_CPUPROFILE does for `koya agent` (the agent host exits
	// once idle: KOYA_AGENT_HOST_IDLE).
	path := os.Getenv("KOYA_CPUPROFILE")
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		path = os.Getenv("KOYA_AGENT_CPUPROFILE")
	}
	if path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "koya: KOYA_CPUPROFILE:", err)
			os.Exit(1)
		}
		code := cli.Main(context.Background(), os.Args[1:])
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(cli.Main(context.Background(), os.Args[1:]))
}

// Command koya is the whole platform in one binary: the server, the agent
// that wraps every task, and the command line (see internal/cli).
package main

import (
	"context"
	"os"

	"github.com/koya-dev/koya/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:]))
}

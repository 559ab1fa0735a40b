// Command drover keeps a Nomad cluster in sync with a git repository of job
// files. This package only parses flags and wires the real clients; the
// work happens in the agent, sync, jobs and source packages.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

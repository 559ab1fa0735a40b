// Command devcluster runs a Consul and a Nomad dev agent for `make demo`
// until interrupted. It is testcluster behind a few flags: the agents get
// the same loopback-only, free-port setup the end-to-end tests use, so a
// running demo and a test run never collide.
//
// When both agents are ready it writes <dir>/env, a shell file setting
// NOMAD_ADDR and CONSUL_HTTP_ADDR, and prints the same lines. The file
// appearing is the signal that the cluster is usable; it is removed on
// shutdown so a stale one never points at agents that are gone.
//
// Usage:
//
//	devcluster -dir .demo [-nomad-http-port 4646] [-consul-http-port 8500]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/drover-dev/drover/internal/testcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devcluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "work directory for configs, data, logs and the env file (required)")
	nomadPort := fs.Int("nomad-http-port", 0, "Nomad HTTP port; 0 picks a free one")
	consulPort := fs.Int("consul-http-port", 0, "Consul HTTP port; 0 picks a free one")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: devcluster -dir DIR [-nomad-http-port N] [-consul-http-port N]")
		return 2
	}

	fmt.Fprintf(stdout, "starting Consul and Nomad dev agents in %s (logs: consul.log, nomad.log)\n", *dir)
	c, err := testcluster.Start(ctx, testcluster.Options{
		Dir:            *dir,
		NomadHTTPPort:  *nomadPort,
		ConsulHTTPPort: *consulPort,
	})
	if err != nil {
		fmt.Fprintf(stderr, "devcluster: %v\n", err)
		return 1
	}

	code := 0
	envFile := filepath.Join(c.Dir(), "env")
	if err := writeEnvFile(envFile, c.Env()); err != nil {
		fmt.Fprintf(stderr, "devcluster: %v\n", err)
		code = 1
	} else {
		fmt.Fprint(stdout, exportLines(c.Env()))
		fmt.Fprintf(stdout, "# source %s to use them; Ctrl-C stops the agents\n", envFile)
		<-ctx.Done()
		fmt.Fprintln(stdout, "stopping agents")
	}

	if err := os.Remove(envFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "devcluster: %v\n", err)
		code = 1
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(stderr, "devcluster: %v\n", err)
		code = 1
	}
	return code
}

// exportLines renders KEY=value pairs as lines a shell can source. The
// values are loopback URLs with no characters that need quoting.
func exportLines(env []string) string {
	var b strings.Builder
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s\n", kv)
	}
	return b.String()
}

// writeEnvFile writes the file in one rename, so a Makefile waiting for it
// never sources half of it.
func writeEnvFile(path string, env []string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(exportLines(env)), 0o644); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	return nil
}

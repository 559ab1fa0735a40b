// Command hello is the tiny HTTP service drover's demo and end-to-end tests
// deploy. Its health endpoint can be flipped at run time, so a test can make
// a rollout fail (or recover) without shipping a different binary.
//
// Usage:
//
//	hello [-addr host:port] [-version v] [-unhealthy] [-unhealthy-for 20s]
//
// Environment: PORT sets the default address (":$PORT"), HELLO_VERSION the
// default version, HELLO_UNHEALTHY=true the default health.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run parses flags, serves until ctx is cancelled and then drains in-flight
// requests. It returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr(getenv), "listen address; :$PORT when PORT is set")
	version := fs.String("version", envOr(getenv, "HELLO_VERSION", "dev"), "version reported by GET / (env HELLO_VERSION)")
	unhealthy := fs.Bool("unhealthy", envBool(getenv, "HELLO_UNHEALTHY"), "start with /health failing (env HELLO_UNHEALTHY)")
	unhealthyFor := fs.Duration("unhealthy-for", 0, "fail /health for this long after start, then pass: a slow starter")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	logger := log.New(stdout, "", log.LstdFlags)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "hello: listen: %v\n", err)
		return 1
	}
	logger.Printf("hello %s listening on %s", *version, ln.Addr())

	srv := &http.Server{
		Handler:           logRequests(logger, newServer(*version, *unhealthy, *unhealthyFor)),
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "hello: serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}

	// Nomad sends SIGTERM and waits kill_timeout (5s by default) before
	// SIGKILL, so finish in-flight requests within that window.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "hello: shutdown: %v\n", err)
		return 1
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "hello: serve: %v\n", err)
		return 1
	}
	logger.Printf("hello %s stopped", *version)
	return 0
}

func defaultAddr(getenv func(string) string) string {
	if p := getenv("PORT"); p != "" {
		return ":" + p
	}
	return "127.0.0.1:8080"
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// envBool treats anything strconv.ParseBool rejects as false: the flag is the
// place to be strict, the environment only sets its default.
func envBool(getenv func(string) string, key string) bool {
	b, _ := strconv.ParseBool(getenv(key))
	return b
}

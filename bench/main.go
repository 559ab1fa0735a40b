// Command bench measures drover against a real Nomad dev agent with N jobs
// on the mock driver, and prints a markdown table with the targets of the
// performance issue. It is run by `make bench`, never by `go test`: its
// numbers depend on the machine, so nothing here asserts a timing.
//
// For each N it starts two fresh clusters (internal/testcluster, loopback
// only): one for the baseline a team would otherwise script, a sequential
// `nomad job run -detach` over the files; one for drover, where it runs
// `drover apply` cold, then a `drover agent` behind a counting proxy for
// quiet cycles, commit-to-registered and hand-edit-to-detected latencies and
// its peak RSS, and finally the engine in-process with and without the plan
// memo for the plan-every-job comparison.
//
// Three other modes measure one thing each: -parallel 4,8,16 times `drover
// apply` of the largest N at each parallelism against the register floor
// (the same jobs registered straight through the API, as wide), each on a
// fresh cluster, side by side; -deploy commits N jobs at once to a running
// agent with rollouts on and follows them until every rollout is healthy
// through the bake: plan calls, Nomad response bytes, agent CPU, peak RSS;
// -large takes N jobs (BENCH_N_LARGE, e.g. 10,000) onto one dev node told
// it has room for them: cold sync at default settings against the register
// floor, then an agent's quiet cycles and peak RSS.
//
// Usage:
//
//	bench -drover .bin/drover -nomad .bin/nomad [-n 100,1000] [-parallel 4,8,16 | -deploy | -large] [-heapprofile dir]
//
// BENCH_N overrides -n; with -large, BENCH_N_LARGE does.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	droverBin := fs.String("drover", ".bin/drover", "drover binary")
	nomadBin := fs.String("nomad", ".bin/nomad", "nomad binary, for the `nomad job run` baseline and the dev agent")
	sizes := fs.String("n", "100,1000", "comma-separated job counts")
	baseline := fs.Bool("baseline", true, "time the `nomad job run` loop too (false: drover only, for profiling)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the in-process quiet cycles (drover, memo on) to this file")
	sweep := fs.String("parallel", "", "comma-separated parallelisms: measure only cold sync against the register floor at each, for the largest N")
	deploy := fs.Bool("deploy", false, "measure only a deploy through a running agent with rollouts on, for each N")
	large := fs.Bool("large", false, "measure only cold sync against the register floor at default settings, then an agent's quiet cycles and peak RSS, for each N, on a dev node advertising capacity for N jobs (BENCH_N_LARGE overrides -n)")
	idle := fs.Bool("large-idle", false, "with -large: jobs with count = 0, which Nomad keeps and places nothing for, so one dev node holds N = 10,000 and the quiet cycles are measured in minutes")
	heap := fs.String("heapprofile", "", "with -deploy: run the agent with --pprof and write its heap profile (after a GC) into this directory when the registering cycle ends and when every rollout is healthy")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if v := os.Getenv("BENCH_N"); v != "" && !*large {
		*sizes = v
	}
	if v := os.Getenv("BENCH_N_LARGE"); v != "" && *large {
		*sizes = v
	}
	ns, err := atLeast(*sizes, 10)
	if err != nil {
		fmt.Fprintf(stderr, "bench: job count %v\n", err)
		return 2
	}
	b := &bench{drover: *droverBin, nomad: *nomadBin, log: stderr, profile: *profile, baseline: *baseline, heapDir: *heap, idle: *idle}
	machine, err := describeMachine(ctx, b.nomad)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if *sweep != "" {
		ps, err := atLeast(*sweep, 1)
		if err != nil {
			fmt.Fprintf(stderr, "bench: parallelism %v\n", err)
			return 2
		}
		n := ns[len(ns)-1]
		rows, err := b.parallelSweep(ctx, n, ps)
		if err != nil {
			fmt.Fprintf(stderr, "bench: sweep: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, machine)
		writeSweep(stdout, n, rows)
		return 0
	}
	if *large {
		return eachN(ctx, ns, machine, stdout, stderr, "large ", b.large, writeLarge)
	}
	if *deploy {
		return eachN(ctx, ns, machine, stdout, stderr, "deploy ", b.deployThroughAgent, writeDeploy)
	}
	var results []*result
	for _, n := range ns {
		r, err := b.measure(ctx, n)
		if err != nil {
			fmt.Fprintf(stderr, "bench: N=%d: %v\n", n, err)
			return 1
		}
		results = append(results, r)
	}
	writeTable(stdout, machine, results)
	return 0
}

// atLeast parses a comma-separated list of integers, each at least least.
func atLeast(list string, least int) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < least {
			return nil, fmt.Errorf("%q: want an integer ≥ %d", s, least)
		}
		out = append(out, v)
	}
	return out, nil
}

// eachN runs one mode's measure for each job count, writing each result
// as it comes under the machine's description; the exit code is run's.
func eachN[R any](ctx context.Context, ns []int, machine string, stdout, stderr io.Writer, mode string, measure func(context.Context, int) (R, error), write func(io.Writer, R)) int {
	fmt.Fprintln(stdout, machine)
	for _, n := range ns {
		r, err := measure(ctx, n)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %sN=%d: %v\n", mode, n, err)
			return 1
		}
		write(stdout, r)
	}
	return 0
}

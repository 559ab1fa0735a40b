package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/testcluster"
)

// largeResult is what the -large mode measured at one N: cold sync against
// the register floor at drover's default settings, then a running agent's
// quiet cycles and peak RSS.
type largeResult struct {
	n            int
	floor, apply time.Duration
	applyCalls   map[string]int
	// firstCycle is the agent's first cycle: it plans every job.
	firstCycle time.Duration
	quietCalls float64
	quietKinds map[string]int
	quietCPU   time.Duration
	rss        int64
}

// largeCapacity is what the dev node advertises for n bench jobs (each
// asks for 1 MHz, 10 MB of memory and 10 MB of disk), with room to spare:
// the mock driver's tasks do no work, so only the scheduler's bookkeeping
// stands between one node and n allocations.
func largeCapacity(n int) *testcluster.Capacity {
	return &testcluster.Capacity{CPUMHz: 2*n + 4000, MemoryMB: 20*n + 16000, DiskMB: 20*n + 100000}
}

// large measures n jobs on a dev node told it is big enough for them: the
// register floor (16 wide) and `drover apply` at its defaults, each on a
// fresh cluster, back to back; then, on the second, an agent's first cycle,
// its quiet cycles (calls and CPU) and its peak RSS. Every job places its
// allocation: jobs with count = 0 would do for the cold sync, but a quiet
// agent over placed jobs is the figure that matters (runs with them found
// a dead job registered again every cycle and count-0 rollouts failing,
// both fixed since). One dev node's scheduler places about 5 allocations a second once it holds
// a few thousand, so at 10,000 the wait for them dominates the run.
func (b *bench) large(ctx context.Context, n int) (*largeResult, error) {
	count := 1
	if b.idle {
		count = 0
	}
	dir, repo, remove, err := scratchRepo("large-", n, count)
	if err != nil {
		return nil, err
	}
	defer remove()
	r := &largeResult{n: n}
	b.logf("N=%d: register floor at parallel %d", n, deployParallel)
	err = b.withClusterOpts(ctx, filepath.Join(dir, "floor"), largeCapacity(n), func(c *testcluster.Cluster) error {
		r.floor, err = registerFloor(ctx, c.Nomad(), repo, n, deployParallel)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("register floor: %w", err)
	}
	b.logf("N=%d: floor %s; drover apply", n, secs(r.floor))
	err = b.withClusterOpts(ctx, filepath.Join(dir, "drover"), largeCapacity(n), func(c *testcluster.Cluster) error {
		px, err := startProxy(c.NomadAddr())
		if err != nil {
			return err
		}
		defer px.close()
		if r.apply, err = b.droverApplyVia(ctx, c, px.addr, repo, filepath.Join(dir, "apply-data")); err != nil {
			return err
		}
		r.applyCalls, _ = px.counter.snapshot()
		b.logf("N=%d: drover apply %s (%.2f× the floor), calls %v; waiting for the cluster to settle", n, secs(r.apply), ratio(r.apply, r.floor), r.applyCalls)
		if !b.idle {
			if err := waitRunning(ctx, c.Nomad(), n, 90*time.Minute, 5*time.Second); err != nil {
				return err
			}
		}
		return b.largeAgent(ctx, c, px, repo, filepath.Join(dir, "agent-data"), r)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// largeAgent runs an agent over the synced cluster: its first cycle, then
// quietCycles quiet ones, and its peak RSS.
func (b *bench) largeAgent(ctx context.Context, c *testcluster.Cluster, px *proxy, repo, data string, r *largeResult) error {
	// Its own state prefix: the rollouts `drover apply` recorded are not
	// resumed, so the quiet cycles are the agent's cost of N synced jobs
	// with no rollout in flight.
	args := []string{"--repo", repo, "--instance", instance, "--data-dir", data, "--interval", "1h", "--state-prefix", "drover/bench-large-agent/"}
	if b.heapDir != "" {
		args = append(args, "--pprof")
	}
	a, firstCycle, err := b.startSettled(ctx, c, r.n, args, proxiedEnv(c, px), 60*time.Minute)
	if err != nil {
		return err
	}
	defer a.stop()
	pid := a.cmd.Process.Pid
	r.firstCycle = firstCycle
	b.logf("N=%d: first cycle done after %s; %d quiet cycles (POST /v1/sync)", r.n, secs(r.firstCycle), quietCycles)
	q, err := quietCost(ctx, a, px, 10*time.Minute)
	if err != nil {
		return err
	}
	r.quietCalls, r.quietCPU, r.quietKinds = q.calls, q.cpu, q.kinds
	if err := b.heapProfile(ctx, a, fmt.Sprintf("heap-%d-quiet.pb.gz", r.n)); err != nil {
		return err
	}
	r.rss, err = peakRSS(pid)
	return err
}

func (b *bench) withClusterOpts(ctx context.Context, dir string, capacity *testcluster.Capacity, f func(*testcluster.Cluster) error) error {
	c, err := testcluster.Start(ctx, testcluster.Options{Dir: dir, NomadBin: b.nomad, ReadyTimeout: 3 * time.Minute, Capacity: capacity})
	if err != nil {
		return err
	}
	defer c.Stop()
	return f(c)
}

func writeLarge(w io.Writer, r *largeResult) {
	capa := largeCapacity(r.n)
	fmt.Fprintf(w, "\n### N = %d (one dev node advertising %d MHz, %d MB of memory, %d MB of disk)\n\n", r.n, capa.CPUMHz, capa.MemoryMB, capa.DiskMB)
	fmt.Fprintln(w, "| measure | measured | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	fmt.Fprintf(w, "| register floor, %d wide (fresh cluster) | %s | | |\n", deployParallel, secs(r.floor))
	fmt.Fprintf(w, "| cold sync: `drover apply`, default settings (fresh cluster, right after) | %s | | |\n", secs(r.apply))
	fmt.Fprintf(w, "| cold sync, ratio to the floor | %.2f× | ≤ 1.15× | %s |\n", ratio(r.apply, r.floor), met(ratio(r.apply, r.floor) <= 1.15))
	fmt.Fprintf(w, "| `drover apply`'s Nomad calls | %s | | |\n", kindList(r.applyCalls))
	fmt.Fprintf(w, "| agent's first cycle (plans every job) | %s | | |\n", secs(r.firstCycle))
	fmt.Fprintf(w, "| quiet cycle: Nomad API calls | %.1f (%s in %d cycles) | ≤ 2 | %s |\n", r.quietCalls, kindList(r.quietKinds), quietCycles, met(r.quietCalls <= 2))
	fmt.Fprintf(w, "| quiet cycle: CPU, agent process (user+sys) | %s | | |\n", millis(r.quietCPU))
	fmt.Fprintf(w, "| agent peak RSS (VmHWM) | %.0f MB | ≤ 300 MB | %s |\n", float64(r.rss)/(1<<20), met(r.rss <= 300<<20))
}

func kindList(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/testcluster"
)

// deployParallel is the agent's --parallel in the deploy, and the floor's.
const deployParallel = 16

// deployResult is one deploy through a running agent: N jobs committed at
// once, until every rollout is healthy through the bake.
type deployResult struct {
	n int
	// took runs from the sync request to the last rollout.healthy;
	// coldSync to the end of the cycle that registered the jobs.
	took, coldSync time.Duration
	// floor is the same jobs registered straight through the API at
	// deployParallel, on a fresh cluster just before.
	floor time.Duration
	plans int
	// Nomad response body bytes, all and while watching (after the
	// registering cycle), by kind.
	bytes, watchBytes int64
	bytesByKind       map[string]int64
	// Agent CPU (user+sys), all and while watching.
	cpu, watchCPU time.Duration
	rss           int64
}

// deployThroughAgent starts an agent (rollouts on: Consul is there, default
// policy) over an empty repo behind the counting proxy, commits n jobs at
// once, asks for a sync and waits for n rollout.healthy events.
func (b *bench) deployThroughAgent(ctx context.Context, n int) (*deployResult, error) {
	dir, remove, err := scratch("deploy-")
	if err != nil {
		return nil, err
	}
	defer remove()
	repo := filepath.Join(dir, "repo")
	if err := initRepo(repo); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("jobs\n"), 0o644); err != nil {
		return nil, err
	}
	if _, err := git(repo, "add", "-A"); err != nil {
		return nil, err
	}
	if _, err := git(repo, "commit", "-q", "-m", "empty"); err != nil {
		return nil, err
	}
	d := &deployResult{n: n}
	floorRepo := filepath.Join(dir, "floor-repo")
	if err := makeRepo(floorRepo, n); err != nil {
		return nil, err
	}
	b.logf("N=%d: register floor at parallel %d", n, deployParallel)
	err = b.withCluster(ctx, filepath.Join(dir, "floor"), func(c *testcluster.Cluster) error {
		d.floor, err = registerFloor(ctx, c.Nomad(), floorRepo, n, deployParallel)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("register floor: %w", err)
	}
	err = b.withCluster(ctx, filepath.Join(dir, "cluster"), func(c *testcluster.Cluster) error {
		p, err := startProxy(c.NomadAddr())
		if err != nil {
			return err
		}
		defer p.close()
		env := proxiedEnv(c, p)
		args := []string{"--repo", repo, "--instance", instance, "--data-dir", filepath.Join(dir, "data"),
			"--interval", "10s", "--parallel", fmt.Sprint(deployParallel)}
		if b.heapDir != "" {
			args = append(args, "--pprof")
		}
		a, err := startAgent(b.drover, args, env)
		if err != nil {
			return err
		}
		defer a.stop()
		pid := a.cmd.Process.Pid
		if _, _, err := a.wait(ctx, 0, "sync.done", 5*time.Minute, nil); err != nil {
			return err
		}
		if err := a.waitQuiet(ctx, 2*time.Second, time.Minute); err != nil {
			return err
		}
		if err := commitJobs(repo, n, 1); err != nil {
			return err
		}
		b.logf("N=%d: deploy through the agent (pid %d)", n, pid)
		kinds0, _ := p.counter.snapshot()
		bytes0 := p.counter.byteSnapshot()
		cpu0, err := cpuTime(pid)
		if err != nil {
			return err
		}
		m := a.mark()
		start := time.Now()
		if err := postSync(ctx, a.listen, ""); err != nil {
			return err
		}
		cold, _, err := a.wait(ctx, m, "sync.done", 15*time.Minute, func(e map[string]any) bool {
			c, _ := e["counts"].(map[string]any)
			applied, _ := c["applied"].(float64)
			return applied > 0
		})
		if err != nil {
			return fmt.Errorf("the registering cycle: %w", err)
		}
		d.coldSync = cold.at.Sub(start)
		bytesCold := p.counter.byteSnapshot()
		cpuCold, err := cpuTime(pid)
		if err != nil {
			return err
		}
		b.logf("N=%d: registered in %s; waiting for %d rollouts to be healthy", n, secs(d.coldSync), n)
		if err := b.heapProfile(ctx, a, fmt.Sprintf("heap-%d-registered.pb.gz", n)); err != nil {
			return err
		}
		healthy := map[string]bool{}
		from := m
		var last logLine
		for len(healthy) < n {
			l, next, err := a.wait(ctx, from, "", 20*time.Minute, func(e map[string]any) bool {
				ev, _ := e["event"].(string)
				return ev == "rollout.healthy" || ev == "rollout.failed" || ev == "rollout.unresolved"
			})
			if err != nil {
				return fmt.Errorf("%d of %d rollouts healthy: %w", len(healthy), n, err)
			}
			if l.event["event"] != "rollout.healthy" {
				return fmt.Errorf("rollout of %v: %v (%v)", l.event["job"], l.event["event"], l.event["reason"])
			}
			healthy[fmt.Sprint(l.event["job"])] = true
			from, last = next, l
		}
		d.took = last.at.Sub(start)
		cpu1, err := cpuTime(pid)
		if err != nil {
			return err
		}
		if err := b.heapProfile(ctx, a, fmt.Sprintf("heap-%d-healthy.pb.gz", n)); err != nil {
			return err
		}
		kinds1, _ := p.counter.snapshot()
		bytes1 := p.counter.byteSnapshot()
		d.plans = kinds1["PUT /v1/job/:id/plan"] - kinds0["PUT /v1/job/:id/plan"]
		d.bytesByKind = map[string]int64{}
		for k, v := range bytes1 {
			if dv := v - bytes0[k]; dv > 0 {
				d.bytesByKind[k] = dv
				d.bytes += dv
				d.watchBytes += v - bytesCold[k]
			}
		}
		d.cpu, d.watchCPU = cpu1-cpu0, cpu1-cpuCold
		d.rss, err = peakRSS(pid)
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func writeDeploy(w io.Writer, d *deployResult) {
	mb := func(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }
	fmt.Fprintf(w, "\n### Deploy through the agent: %d jobs committed at once, until every rollout is healthy through the bake\n\n", d.n)
	fmt.Fprintln(w, "| | measured | target (N=1000) |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| commit → every rollout healthy | %s | |\n", secs(d.took))
	fmt.Fprintf(w, "| the registering cycle (sync request → sync.done) | %s | |\n", secs(d.coldSync))
	fmt.Fprintf(w, "| register floor, %d wide (fresh cluster, same run) | %s (cycle is %.2f×) | |\n", deployParallel, secs(d.floor), ratio(d.coldSync, d.floor))
	fmt.Fprintf(w, "| plan calls per job | %.2f (%d) | ≤ 1.1 |\n", float64(d.plans)/float64(d.n), d.plans)
	fmt.Fprintf(w, "| Nomad response payload, in all | %s | ≤ 10 MB |\n", mb(d.bytes))
	fmt.Fprintf(w, "| Nomad response payload, watching the rollouts | %s | ≤ 5 MB |\n", mb(d.watchBytes))
	fmt.Fprintf(w, "| agent CPU (user+sys), in all | %s | |\n", secs(d.cpu))
	fmt.Fprintf(w, "| agent CPU, watching the rollouts | %s | ≤ 5 s |\n", secs(d.watchCPU))
	fmt.Fprintf(w, "| agent peak RSS | %.0f MB | ≤ 60 MB |\n", float64(d.rss)/(1<<20))
	var ks []string
	for k := range d.bytesByKind {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return d.bytesByKind[ks[i]] > d.bytesByKind[ks[j]] })
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %s", k, mb(d.bytesByKind[k])))
	}
	fmt.Fprintf(w, "\nPayload by call: %s\n", strings.Join(parts, "; "))
}

// heapProfile saves the agent's heap profile, taken after a GC so that
// in-use space is what the agent holds, into b.heapDir as name.
func (b *bench) heapProfile(ctx context.Context, a *agentProc, name string) error {
	if b.heapDir == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.listen+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s (does this drover have --pprof?)", resp.Status)
	}
	if err := os.MkdirAll(b.heapDir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(b.heapDir, name))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	b.logf("heap profile: %s", f.Name())
	return f.Close()
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/testcluster"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/source"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// instance is the drover instance every drover run of the bench uses, so
// the agent finds the jobs `drover apply` registered as its own.
const instance = "bench"

// quietCycles is how many quiet cycles are averaged; the agent's CPU time
// comes from /proc in 10ms ticks, so one cycle alone would read 0 or 10ms.
const quietCycles = 20

// latencyRuns is how many commits and hand edits are timed; the table
// shows the median.
const latencyRuns = 3

type bench struct {
	drover, nomad string
	log           io.Writer
	// profile is where to write a CPU profile of the in-process quiet
	// cycles with the memo on; "" for none.
	profile string
	// baseline times the `nomad job run` loop.
	baseline bool
	// heapDir receives the deploy's agent heap profiles; "" for none.
	heapDir string
	// idle makes -large's jobs count = 0: N jobs with nothing to place,
	// so one dev node can hold 10,000 and the agent's quiet cycles can be
	// measured without an hour of placements.
	idle bool
}

// result is what one N measured.
type result struct {
	n                    int
	loopCold, droverCold time.Duration

	// The agent process behind the counting proxy, per quiet cycle.
	agentCalls    float64
	agentCallKind map[string]int
	agentCPU      time.Duration
	agentPlanned  int // the most jobs any quiet cycle planned

	// The engine in-process, per quiet cycle, memo on and off.
	memo, planAll cycleCost

	commitToRegistered, handEditDetected, handEditCorrected []time.Duration
	rss                                                     int64
}

type cycleCost struct {
	calls float64
	cpu   time.Duration
	wall  time.Duration
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

func (b *bench) measure(ctx context.Context, n int) (*result, error) {
	dir, repo, remove, err := scratchRepo("", n, 1)
	if err != nil {
		return nil, err
	}
	defer remove()
	r := &result{n: n}

	if b.baseline {
		b.logf("N=%d: cold sync with a `nomad job run -detach` loop", n)
		err = b.withCluster(ctx, filepath.Join(dir, "loop"), func(c *testcluster.Cluster) error {
			r.loopCold, err = b.nomadLoop(ctx, c, repo, n)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("nomad job run loop: %w", err)
		}
		b.logf("N=%d: loop took %s", n, r.loopCold.Round(time.Millisecond))
	}

	err = b.withCluster(ctx, filepath.Join(dir, "drover"), func(c *testcluster.Cluster) error {
		b.logf("N=%d: cold sync with drover apply", n)
		if r.droverCold, err = b.droverApply(ctx, c, repo, filepath.Join(dir, "apply-data")); err != nil {
			return err
		}
		b.logf("N=%d: drover apply took %s; waiting for %d jobs to run", n, r.droverCold.Round(time.Millisecond), n)
		if err := waitRunning(ctx, c.Nomad(), n, 15*time.Minute, time.Second); err != nil {
			return err
		}
		if err := b.agentPhase(ctx, c, repo, filepath.Join(dir, "agent-data"), r); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		b.logf("N=%d: in-process quiet cycles, plan memo on and off", n)
		if r.memo, err = b.inProcess(ctx, c, repo, filepath.Join(dir, "memo-data"), false, quietCycles, b.profile); err != nil {
			return fmt.Errorf("in-process, memo on: %w", err)
		}
		if r.planAll, err = b.inProcess(ctx, c, repo, filepath.Join(dir, "planall-data"), true, 3, ""); err != nil {
			return fmt.Errorf("in-process, plan every job: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (b *bench) withCluster(ctx context.Context, dir string, f func(*testcluster.Cluster) error) error {
	return b.withClusterOpts(ctx, dir, nil, f)
}

// nomadLoop is what a team without drover scripts: one `nomad job run
// -detach` per file, in order.
func (b *bench) nomadLoop(ctx context.Context, c *testcluster.Cluster, repo string, n int) (time.Duration, error) {
	env := append(os.Environ(), c.Env()...)
	start := time.Now()
	for i := range n {
		cmd := exec.CommandContext(ctx, b.nomad, "job", "run", "-detach", filepath.Join(repo, jobFile(i)))
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("nomad job run %s: %w\n%s", jobFile(i), err, out)
		}
	}
	return time.Since(start), nil
}

func (b *bench) droverApply(ctx context.Context, c *testcluster.Cluster, repo, data string, extra ...string) (time.Duration, error) {
	return b.droverApplyVia(ctx, c, "", repo, data, extra...)
}

// droverApplyVia runs drover apply with NOMAD_ADDR set to nomadAddr ("":
// the cluster's own), e.g. a counting proxy.
func (b *bench) droverApplyVia(ctx context.Context, c *testcluster.Cluster, nomadAddr, repo, data string, extra ...string) (time.Duration, error) {
	args := append([]string{"apply", "--repo", repo, "--instance", instance, "--data-dir", data, "--log-level", "warn"}, extra...)
	cmd := exec.CommandContext(ctx, b.drover, args...)
	cmd.Env = append(os.Environ(), c.Env()...)
	if nomadAddr != "" {
		cmd.Env = append(cmd.Env, "NOMAD_ADDR="+nomadAddr)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("drover apply: %w\n%s", err, tail(out))
	}
	return took, nil
}

// agentPhase runs `drover agent` behind a counting proxy: quiet cycles,
// commit-to-registered, hand-edit-to-detected, peak RSS.
func (b *bench) agentPhase(ctx context.Context, c *testcluster.Cluster, repo, data string, r *result) error {
	p, err := startProxy(c.NomadAddr())
	if err != nil {
		return err
	}
	defer p.close()
	// The secret goes through the environment, as the README advises.
	const webhookSecret = "bench-webhook-secret"
	a, _, err := b.startSettled(ctx, c, r.n, []string{"--repo", repo, "--instance", instance, "--data-dir", data, "--interval", "1h"},
		append(proxiedEnv(c, p), "DROVER_WEBHOOK_SECRET="+webhookSecret), 15*time.Minute)
	if err != nil {
		return err
	}
	defer a.stop()
	pid := a.cmd.Process.Pid

	b.logf("N=%d: %d quiet cycles (POST /v1/sync)", r.n, quietCycles)
	q, err := quietCost(ctx, a, p, 5*time.Minute)
	if err != nil {
		return err
	}
	r.agentCalls, r.agentCPU, r.agentCallKind, r.agentPlanned = q.calls, q.cpu, q.kinds, q.planned

	notify := postWebhook(webhookSecret)
	b.logf("N=%d: commit → registered, %d times", r.n, latencyRuns)
	for i := range latencyRuns {
		if err := a.waitQuiet(ctx, time.Second, 5*time.Minute); err != nil {
			return err
		}
		id := jobID(i)
		sha, err := commitVersion(repo, i, fmt.Sprintf("commit-%d", i))
		if err != nil {
			return err
		}
		m := a.mark()
		start := time.Now()
		if err := notify(ctx, a.listen, sha); err != nil {
			return err
		}
		applied, _, err := a.wait(ctx, m, "job.applied", time.Minute, func(e map[string]any) bool { return e["job"] == id })
		if err != nil {
			return fmt.Errorf("commit to registered: %w", err)
		}
		r.commitToRegistered = append(r.commitToRegistered, applied.at.Sub(start))
	}

	b.logf("N=%d: hand edit → detected and corrected, %d times", r.n, latencyRuns)
	for i := range latencyRuns {
		if err := a.waitQuiet(ctx, time.Second, 5*time.Minute); err != nil {
			return err
		}
		id := jobID(r.n - 1 - i)
		job, _, err := c.Nomad().Jobs().Info(id, nil)
		if err != nil {
			return fmt.Errorf("read %s: %w", id, err)
		}
		job.TaskGroups[0].Tasks[0].Env["HAND"] = fmt.Sprint(i)
		m := a.mark()
		start := time.Now()
		if _, _, err := c.Nomad().Jobs().Register(job, nil); err != nil {
			return fmt.Errorf("hand edit %s: %w", id, err)
		}
		drift, next, err := a.wait(ctx, m, "job.drift", time.Minute, func(e map[string]any) bool { return e["job"] == id })
		if err != nil {
			return fmt.Errorf("hand edit to detected: %w", err)
		}
		fixed, _, err := a.wait(ctx, next, "job.applied", time.Minute, func(e map[string]any) bool { return e["job"] == id })
		if err != nil {
			return fmt.Errorf("hand edit to corrected: %w", err)
		}
		r.handEditDetected = append(r.handEditDetected, drift.at.Sub(start))
		r.handEditCorrected = append(r.handEditCorrected, fixed.at.Sub(start))
	}
	if r.rss, err = peakRSS(pid); err != nil {
		return err
	}
	return nil
}

// proxiedEnv is the environment of a drover process that talks to c's
// Nomad through p.
func proxiedEnv(c *testcluster.Cluster, p *proxy) []string {
	env := append(os.Environ(), c.Env()...)
	return append(env, "NOMAD_ADDR="+p.addr)
}

// startSettled starts an agent with args and env, waits for its first
// cycle, which plans every job, to end within firstCycle, then for the
// agent and the cluster to go quiet. It returns the agent, to be stopped
// by the caller, and how long its first cycle took from the start.
func (b *bench) startSettled(ctx context.Context, c *testcluster.Cluster, n int, args, env []string, firstCycle time.Duration) (*agentProc, time.Duration, error) {
	start := time.Now()
	a, err := startAgent(b.drover, args, env)
	if err != nil {
		return nil, 0, err
	}
	b.logf("N=%d: agent started (pid %d); its first cycle plans every job", n, a.cmd.Process.Pid)
	if _, _, err := a.wait(ctx, 0, "sync.done", firstCycle, nil); err != nil {
		a.stop()
		return nil, 0, err
	}
	took := time.Since(start)
	if err := a.waitQuiet(ctx, 3*time.Second, 10*time.Minute); err != nil {
		a.stop()
		return nil, 0, err
	}
	// Quiet means the cluster too: deployments finished, no allocation
	// changing state, so the job list's index stands still.
	if err := waitSettled(ctx, c.Nomad()); err != nil {
		a.stop()
		return nil, 0, err
	}
	return a, took, nil
}

// inProcess runs drover's cycle (fetch → load → sync, as the agent does)
// in this process against a counting client: one cycle to warm up, then
// cycles quiet ones, measured. planAlways turns the plan memo off. With a
// profile path, the measured cycles are CPU-profiled into it.
func (b *bench) inProcess(ctx context.Context, c *testcluster.Cluster, repoDir, data string, planAlways bool, cycles int, profile string) (cycleCost, error) {
	counter := &callCounter{}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = runtime.GOMAXPROCS(0) + 1
	client, err := api.NewClient(&api.Config{
		Address:    c.NomadAddr(),
		HttpClient: &http.Client{Transport: &countingTransport{next: transport, counter: counter}},
	})
	if err != nil {
		return cycleCost{}, err
	}
	nc := nomad.Wrap(client)
	repo, err := source.Open(ctx, source.Options{URL: repoDir, DataDir: data})
	if err != nil {
		return cycleCost{}, err
	}
	loader := &jobs.Loader{Parser: nc}
	engine := reconcile.New(nc, reconcile.Options{Instance: instance, PlanAlways: planAlways, Logger: zerolog.Nop()})
	cycle := func() error {
		snap, err := repo.Fetch(ctx)
		if err != nil {
			return err
		}
		set, err := loader.Load(ctx, snap)
		if err != nil {
			return err
		}
		report, err := engine.Sync(ctx, set)
		if err != nil {
			return err
		}
		if report.Failed() || report.Pending() {
			return fmt.Errorf("cycle found the cluster out of sync: %+v", report.Counts())
		}
		return nil
	}
	if err := cycle(); err != nil {
		return cycleCost{}, err
	}
	if err := waitSettled(ctx, client); err != nil {
		return cycleCost{}, err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return cycleCost{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return cycleCost{}, err
		}
	}
	_, calls0 := counter.snapshot()
	cpu0, start := selfCPU(), time.Now()
	for range cycles {
		if err := cycle(); err != nil {
			pprof.StopCPUProfile()
			return cycleCost{}, err
		}
	}
	wall, cpu := time.Since(start), selfCPU()-cpu0
	if profile != "" {
		pprof.StopCPUProfile()
	}
	_, calls1 := counter.snapshot()
	return cycleCost{
		calls: float64(calls1-calls0) / float64(cycles),
		cpu:   cpu / time.Duration(cycles),
		wall:  wall / time.Duration(cycles),
	}, nil
}

// waitRunning waits, polling every poll for up to limit, until n jobs have
// their allocation running, so what comes next starts against a settled
// cluster.
func waitRunning(ctx context.Context, nc *api.Client, n int, limit, poll time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		stubs, _, err := nc.Jobs().List((&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return err
		}
		running := 0
		for _, s := range stubs {
			if s.Status == "running" && s.JobSummary != nil && s.JobSummary.Summary["g"].Running == 1 {
				running++
			}
		}
		if running == n {
			return nil
		}
		if !backoff.Sleep(ctx, poll) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%d jobs not all running within %s", n, limit)
}

// waitSettled waits until the job list's index has not moved for 5s: no
// deployment finishing, no allocation changing state.
func waitSettled(ctx context.Context, nc *api.Client) error {
	deadline := time.Now().Add(10 * time.Minute)
	var last uint64
	stable := time.Now()
	for time.Now().Before(deadline) {
		_, meta, err := nc.Jobs().List((&api.QueryOptions{PerPage: 1, Namespace: api.AllNamespacesNamespace}).WithContext(ctx))
		if err != nil {
			return err
		}
		if meta.LastIndex != last {
			last, stable = meta.LastIndex, time.Now()
		}
		if time.Since(stable) >= 5*time.Second {
			return nil
		}
		if !backoff.Sleep(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("the job list's index kept moving for 10 minutes")
}

func plannedOf(e map[string]any) int {
	c, _ := e["counts"].(map[string]any)
	n, _ := c["planned"].(float64)
	return int(n)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// quiet is what an agent costs per quiet cycle.
type quiet struct {
	calls float64
	cpu   time.Duration
	// kinds counts the calls of all the cycles by endpoint.
	kinds map[string]int
	// planned is the most jobs any one of them planned.
	planned int
}

// quietCost runs quietCycles cycles (POST /v1/sync) of an agent on a
// settled cluster, each waited for up to limit, and measures them through
// its proxy and its CPU time.
func quietCost(ctx context.Context, a *agentProc, px *proxy, limit time.Duration) (quiet, error) {
	pid := a.cmd.Process.Pid
	cpu0, err := cpuTime(pid)
	if err != nil {
		return quiet{}, err
	}
	kinds0, calls0 := px.counter.snapshot()
	var q quiet
	for range quietCycles {
		m := a.mark()
		if err := postSync(ctx, a.listen, ""); err != nil {
			return quiet{}, err
		}
		done, _, err := a.wait(ctx, m, "sync.done", limit, nil)
		if err != nil {
			return quiet{}, err
		}
		q.planned = max(q.planned, plannedOf(done.event))
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return quiet{}, err
	}
	kinds1, calls1 := px.counter.snapshot()
	q.calls = float64(calls1-calls0) / quietCycles
	q.cpu = (cpu1 - cpu0) / quietCycles
	q.kinds = map[string]int{}
	for k, v := range kinds1 {
		if d := v - kinds0[k]; d > 0 {
			q.kinds[k] = d
		}
	}
	return q, nil
}

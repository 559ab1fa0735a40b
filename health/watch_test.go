package health

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// fakeCluster is a Nomad and a Consul answering blocking queries: a query
// with an index below the cluster's answers at once, one at the index
// waits for a change, its wait time or its context.
type fakeCluster struct {
	mu      gosync.Mutex
	index   uint64
	changed chan struct{}

	allocs    []*api.AllocationListStub
	deps      []*api.Deployment
	checks    []*consulapi.HealthCheck
	nomadErr  error
	consulErr error

	// calls, active and maxActive count queries by source: made, in
	// flight, most in flight at once.
	calls, active, maxActive map[string]int

	// hold, when set, keeps a cancelled query from returning until it is
	// closed, like a request slow to notice its context; held hears of
	// each query held.
	hold chan struct{}
	held chan string
}

func newFakeCluster(o Observation) *fakeCluster {
	return &fakeCluster{
		index: 1, changed: make(chan struct{}),
		allocs: o.Allocs, deps: o.Deployments, checks: o.Checks,
		calls: map[string]int{}, active: map[string]int{}, maxActive: map[string]int{},
	}
}

// set changes what the cluster shows and wakes the blocked queries.
func (f *fakeCluster) set(change func(f *fakeCluster)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeCluster) counts() (calls, active, maxActive map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls), maps.Clone(f.active), maps.Clone(f.maxActive)
}

func (f *fakeCluster) Allocations(ctx context.Context, index uint64, wait time.Duration) ([]*api.AllocationListStub, uint64, error) {
	return blockingQuery(ctx, f, "allocations", index, wait, func() ([]*api.AllocationListStub, error) { return f.allocs, f.nomadErr })
}

func (f *fakeCluster) Deployments(ctx context.Context, index uint64, wait time.Duration) ([]*api.Deployment, uint64, error) {
	return blockingQuery(ctx, f, "deployments", index, wait, func() ([]*api.Deployment, error) { return f.deps, f.nomadErr })
}

func (f *fakeCluster) Checks(ctx context.Context, index uint64, wait time.Duration) ([]*consulapi.HealthCheck, uint64, error) {
	return blockingQuery(ctx, f, "checks", index, wait, func() ([]*consulapi.HealthCheck, error) { return f.checks, f.consulErr })
}

// blockingQuery answers like the real APIs; get runs under f.mu.
func blockingQuery[T any](ctx context.Context, f *fakeCluster, source string, index uint64, wait time.Duration, get func() (T, error)) (T, uint64, error) {
	f.mu.Lock()
	f.calls[source]++
	f.active[source]++
	f.maxActive[source] = max(f.maxActive[source], f.active[source])
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active[source]--
		f.mu.Unlock()
	}()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		f.mu.Lock()
		v, err := get()
		at, changed, hold := f.index, f.changed, f.hold
		f.mu.Unlock()
		if err != nil {
			var zero T
			return zero, 0, err
		}
		if at > index {
			return v, at, nil
		}
		select {
		case <-changed:
		case <-timeout.C:
			return v, at, nil
		case <-ctx.Done():
			if hold != nil {
				select {
				case f.held <- source:
				default:
				}
				<-hold
			}
			var zero T
			return zero, 0, ctx.Err()
		}
	}
}

var testWatcherOptions = WatcherOptions{Tick: 10 * time.Millisecond, Pause: time.Millisecond, Retry: func(int) time.Duration { return time.Millisecond }}

// watchResult is what a Watch run in the background returned, and every
// verdict it reported on the way.
type watchResult struct {
	verdict  Verdict
	err      error
	progress []Verdict
}

// startWatch runs w.Watch in the background. Each progress report is
// also sent to reports, when there is room.
func startWatch(ctx context.Context, w *Watcher, target Target, p Policy, reports chan<- Verdict) <-chan watchResult {
	done := make(chan watchResult, 1)
	go func() {
		var r watchResult
		r.verdict, r.err = w.Watch(ctx, target, NewTracker(p, time.Now().Add(p.Deadline)), func(v Verdict) {
			r.progress = append(r.progress, v)
			if reports != nil {
				select {
				case reports <- v:
				default:
				}
			}
		})
		done <- r
	}()
	return done
}

// await bounds a wait generously: it only ends a test that would hang.
func await[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func phases(vs []Verdict) []state.Phase {
	var out []state.Phase
	for _, v := range vs {
		out = append(out, v.Phase)
	}
	return out
}

func TestWatcher_RolloutReachesHealthy(t *testing.T) {
	healthy := captured(t, "healthy")
	// The rollout starts with its deployment running and no check yet.
	f := newFakeCluster(healthy)
	f.checks = nil
	f.deps = []*api.Deployment{{ID: "dc804e63", Namespace: "default", JobID: "ok", Status: api.DeploymentStatusRunning, StatusDescription: "Deployment is running"}}
	w := NewWatcher(f, f, testWatcherOptions)

	reports := make(chan Verdict, 1)
	done := startWatch(context.Background(), w, helloTarget("ok", 0), Policy{MinHealthy: 30 * time.Millisecond, Deadline: time.Minute, Bake: 30 * time.Millisecond}, reports)
	first := await(t, reports, "the first verdict")
	if first.Phase != state.Watching || !slices.Contains(first.Waiting, "0 of 1 checks passing on allocation 3a25d529") {
		t.Fatalf("first verdict = %+v, want watching for the check", first)
	}
	f.set(func(f *fakeCluster) { f.checks, f.deps = healthy.Checks, healthy.Deployments })

	r := await(t, done, "the watch to end")
	if r.err != nil || r.verdict.Phase != state.Healthy {
		t.Fatalf("Watch = %+v, %v; want healthy", r.verdict, r.err)
	}
	if got, want := phases(r.progress), []state.Phase{state.Watching, state.Baking, state.Healthy}; !slices.Equal(got, want) {
		t.Errorf("progress phases = %v, want %v", got, want)
	}
	if _, active, _ := f.counts(); active["allocations"]+active["deployments"]+active["checks"] != 0 {
		t.Errorf("queries still in flight after the last watch: %v", active)
	}
}

func TestWatcher_FeedsStopWithTheLastWatch(t *testing.T) {
	f := newFakeCluster(captured(t, "healthy"))
	w := NewWatcher(f, f, testWatcherOptions)
	for round := range 2 {
		r := await(t, startWatch(context.Background(), w, helloTarget("ok", 0), Policy{Deadline: time.Minute, Bake: 20 * time.Millisecond}, nil), "the watch to end")
		if r.err != nil || r.verdict.Phase != state.Healthy {
			t.Fatalf("round %d: Watch = %+v, %v; want healthy", round, r.verdict, r.err)
		}
		calls, active, _ := f.counts()
		for _, source := range []string{"allocations", "deployments", "checks"} {
			if calls[source] == 0 {
				t.Errorf("round %d: no %s query", round, source)
			}
			if active[source] != 0 {
				t.Errorf("round %d: %d %s queries still in flight after Watch returned", round, active[source], source)
			}
		}
		// Stopped feeds make no more queries, whatever happens next.
		f.set(func(*fakeCluster) {})
		time.Sleep(50 * time.Millisecond)
		if after, _, _ := f.counts(); !maps.Equal(after, calls) {
			t.Errorf("round %d: queries after the last watch ended: %v, then %v", round, calls, after)
		}
	}
}

func TestWatcher_ConsulErrorIsUnreachable(t *testing.T) {
	errDown := errors.New("connection refused")

	t.Run("recovers", func(t *testing.T) {
		f := newFakeCluster(captured(t, "healthy"))
		f.consulErr = errDown
		w := NewWatcher(f, f, testWatcherOptions)
		reports := make(chan Verdict, 1)
		done := startWatch(context.Background(), w, helloTarget("ok", 0), Policy{MinHealthy: 20 * time.Millisecond, Deadline: time.Minute, Bake: 20 * time.Millisecond}, reports)
		first := await(t, reports, "the first verdict")
		if first.Phase != state.Watching || first.Unreachable != "consul: connection refused" {
			t.Fatalf("first verdict = %+v, want watching with Consul unreachable", first)
		}
		f.set(func(f *fakeCluster) { f.consulErr = nil })

		r := await(t, done, "the watch to end")
		if r.err != nil || r.verdict.Phase != state.Healthy || r.verdict.Unreachable != "" {
			t.Fatalf("Watch = %+v, %v; want healthy with Consul reachable", r.verdict, r.err)
		}
		if len(r.progress) < 2 || r.progress[1].Phase != state.Watching || r.progress[1].Unreachable != "" {
			t.Errorf("progress = %+v, want a report that Consul answers again while watching", r.progress)
		}
	})

	t.Run("unknown at the deadline", func(t *testing.T) {
		f := newFakeCluster(captured(t, "healthy"))
		f.consulErr = errDown
		w := NewWatcher(f, f, testWatcherOptions)
		r := await(t, startWatch(context.Background(), w, helloTarget("ok", 0), Policy{Deadline: 50 * time.Millisecond}, nil), "the watch to end")
		if r.err != nil || r.verdict.Phase != state.Unknown || r.verdict.Unreachable != "consul: connection refused" {
			t.Fatalf("Watch = %+v, %v; want unknown with Consul unreachable", r.verdict, r.err)
		}
	})

	t.Run("no Consul configured", func(t *testing.T) {
		f := newFakeCluster(captured(t, "healthy"))
		w := NewWatcher(f, nil, testWatcherOptions)
		r := await(t, startWatch(context.Background(), w, helloTarget("ok", 0), Policy{Deadline: 50 * time.Millisecond}, nil), "the watch to end")
		if r.err != nil || r.verdict.Phase != state.Unknown || r.verdict.Unreachable != "consul: no Consul configured" {
			t.Fatalf("Watch = %+v, %v; want unknown without Consul", r.verdict, r.err)
		}
		if calls, _, _ := f.counts(); calls["checks"] != 0 {
			t.Errorf("%d Consul queries without a Consul", calls["checks"])
		}
	})
}

func TestWatcher_NomadErrorIsUnreachable(t *testing.T) {
	// A failed allocation Nomad showed before it became unreachable does
	// not fail the rollout while it cannot be asked.
	f := newFakeCluster(captured(t, "driver-failure"))
	f.nomadErr = errors.New("503 Service Unavailable")
	w := NewWatcher(f, f, testWatcherOptions)
	reports := make(chan Verdict, 1)
	done := startWatch(context.Background(), w, helloTarget("nocmd", 0), Policy{Deadline: time.Minute}, reports)
	first := await(t, reports, "the first verdict")
	if first.Phase != state.Watching || !strings.HasPrefix(first.Unreachable, "nomad: 503 Service Unavailable") {
		t.Fatalf("first verdict = %+v, want watching with Nomad unreachable", first)
	}
	f.set(func(f *fakeCluster) { f.nomadErr = nil })
	r := await(t, done, "the watch to end")
	if r.err != nil || r.verdict.Phase != state.Failed || r.verdict.Unreachable != "" {
		t.Fatalf("Watch = %+v, %v; want failed once Nomad answers", r.verdict, r.err)
	}
}

func TestWatcher_ConcurrentWatchesShareTheFeeds(t *testing.T) {
	// One cluster-wide answer holds both jobs: "ok" is ready, "slow"'s
	// deployment still runs.
	ok, slow := captured(t, "healthy"), captured(t, "deploying")
	f := newFakeCluster(Observation{
		Allocs:      append(ok.Allocs, slow.Allocs...),
		Deployments: append(ok.Deployments, slow.Deployments...),
		Checks:      append(ok.Checks, slow.Checks...),
	})
	w := NewWatcher(f, f, testWatcherOptions)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Neither can finish before it is cancelled.
	p := Policy{MinHealthy: time.Hour, Deadline: time.Hour}
	okReports, slowReports := make(chan Verdict, 1), make(chan Verdict, 1)
	okDone := startWatch(ctx, w, helloTarget("ok", 0), p, okReports)
	slowDone := startWatch(ctx, w, helloTarget("slow", 0), p, slowReports)
	await(t, okReports, "the first verdict on ok")
	await(t, slowReports, "the first verdict on slow")
	// Let both watches see a few changes.
	for range 5 {
		f.set(func(*fakeCluster) {})
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	okR, slowR := await(t, okDone, "the watch of ok to end"), await(t, slowDone, "the watch of slow to end")

	for _, r := range []watchResult{okR, slowR} {
		if !errors.Is(r.err, context.Canceled) || r.verdict.Phase != state.Watching {
			t.Errorf("cancelled Watch = %s, %v; want watching, context.Canceled", r.verdict.Phase, r.err)
		}
	}
	if len(okR.verdict.Waiting) != 0 {
		t.Errorf("ok: Waiting = %q, want nothing", okR.verdict.Waiting)
	}
	if want := []string{"deployment d7785fee running: Deployment is running"}; !slices.Equal(slowR.verdict.Waiting, want) {
		t.Errorf("slow: Waiting = %q, want %q", slowR.verdict.Waiting, want)
	}
	calls, active, maxActive := f.counts()
	for _, source := range []string{"allocations", "deployments", "checks"} {
		if maxActive[source] != 1 {
			t.Errorf("%s: %d queries at once, want 1 for both watches", source, maxActive[source])
		}
		if active[source] != 0 {
			t.Errorf("%s: %d queries in flight after both watches ended", source, active[source])
		}
		// A query per change and a few spare, not one per watch.
		if calls[source] > 1+6+3 {
			t.Errorf("%s: %d queries for 6 answers", source, calls[source])
		}
	}
}

func TestWatcher_LastWatchDoesNotWaitForFeedsStartedAfterIt(t *testing.T) {
	f := newFakeCluster(captured(t, "healthy"))
	f.hold, f.held = make(chan struct{}), make(chan string, 3)
	w := NewWatcher(f, f, testWatcherOptions)

	// A ends by time while its feeds block on a cluster that does not
	// change, so its end cancels queries in flight, which Nomad is slow to
	// give back.
	aDone := startWatch(context.Background(), w, helloTarget("ok", 0), Policy{Deadline: time.Minute, Bake: 30 * time.Millisecond}, nil)
	await(t, f.held, "a query of A's feeds to be cancelled")

	// B starts while A still waits for its feeds.
	bCtx, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	bReports := make(chan Verdict, 1)
	bDone := startWatch(bCtx, w, helloTarget("ok", 0), Policy{MinHealthy: time.Hour, Deadline: time.Hour}, bReports)
	await(t, bReports, "the first verdict of B")
	close(f.hold)

	a := await(t, aDone, "A to end while B still watches")
	if a.err != nil || a.verdict.Phase != state.Healthy {
		t.Errorf("A: Watch = %+v, %v; want healthy", a.verdict, a.err)
	}
	select {
	case b := <-bDone:
		t.Fatalf("B ended before it was cancelled: %+v, %v", b.verdict, b.err)
	default:
	}
	cancelB()
	if b := await(t, bDone, "B to end"); !errors.Is(b.err, context.Canceled) {
		t.Errorf("B: Watch error = %v, want context.Canceled", b.err)
	}
	if _, active, _ := f.counts(); active["allocations"]+active["deployments"]+active["checks"] != 0 {
		t.Errorf("queries still in flight after the last watch: %v", active)
	}
}

// fakeAgent is a Consul that can also read live check outputs.
type fakeAgent struct {
	*fakeCluster
	outputs map[string]string
}

func (a fakeAgent) CheckOutputs(context.Context) (map[string]string, error) { return a.outputs, nil }

func TestWatcher_FailedCheckExplainedByTheAgent(t *testing.T) {
	healthy := captured(t, "healthy")
	f := newFakeCluster(healthy)
	id := healthy.Checks[0].CheckID
	agent := fakeAgent{f, map[string]string{id: "HTTP GET http://127.0.0.1:23109/health: 500 Internal Server Error Output: unhealthy\n"}}
	w := NewWatcher(f, agent, testWatcherOptions)
	reports := make(chan Verdict, 2)
	done := startWatch(context.Background(), w, helloTarget("ok", 0), Policy{Deadline: time.Minute, Bake: time.Hour}, reports)
	if v := await(t, reports, "the first verdict"); v.Phase != state.Baking {
		t.Fatalf("first verdict = %s, want baking", v.Phase)
	}
	// The catalog shows no output for a check critical from the start.
	critical := *healthy.Checks[0]
	critical.Status, critical.Output = consulapi.HealthCritical, ""
	f.set(func(f *fakeCluster) { f.checks = []*consulapi.HealthCheck{&critical} })

	r := await(t, done, "the watch to end")
	if r.err != nil || r.verdict.Phase != state.Failed {
		t.Fatalf("Watch = %+v, %v; want failed", r.verdict, r.err)
	}
	want := "HTTP GET http://127.0.0.1:23109/health: 500 Internal Server Error Output: unhealthy"
	if len(r.verdict.Problems) != 1 || r.verdict.Problems[0].Output != want {
		t.Errorf("problems = %+v, want the check with the agent's output", r.verdict.Problems)
	}
	if !strings.HasPrefix(r.verdict.Reason, "a check went critical while baking: ") || !strings.HasSuffix(r.verdict.Reason, ": "+want) {
		t.Errorf("reason = %q, want it to end with the agent's output", r.verdict.Reason)
	}
}

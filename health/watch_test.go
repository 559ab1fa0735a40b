package health

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
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
	mu      sync.Mutex
	index   uint64
	changed chan struct{}

	allocs    []*api.AllocationListStub
	deps      []*api.Deployment
	checks    []*consulapi.HealthCheck
	nomadErr  error
	consulErr error
	// hang names the inputs that stop answering: their queries, those in
	// flight included, return only when their context ends.
	hang map[string]bool

	// calls, active and maxActive count queries by input: made, in
	// flight, most in flight at once.
	calls, active, maxActive map[string]int
	// log is every query, in the order they were made.
	log []*fakeQuery

	// hold, when set, keeps a cancelled query from returning until it is
	// closed, like a request slow to notice its context; held hears of
	// each query held.
	hold chan struct{}
	held chan string

	streams []fakeStream
}

// fakeQuery is one query a fakeCluster was asked.
type fakeQuery struct {
	input string
	index uint64
	wait  time.Duration
	// budget is how long its context had left when it was made; zero
	// without a deadline.
	budget time.Duration
	// ended is set when it returned, cancelled when by its context.
	ended, cancelled bool
}

func newFakeCluster(o Observation) *fakeCluster {
	return &fakeCluster{
		index: 1, changed: make(chan struct{}),
		allocs: o.Allocs, deps: o.Deployments, checks: o.Checks, hang: map[string]bool{},
		calls: map[string]int{}, active: map[string]int{}, maxActive: map[string]int{},
	}
}

// set changes what the cluster shows and wakes the blocked queries.
func (f *fakeCluster) set(change func(f *fakeCluster)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
	f.index++
	// Every object changed, as far as modify indexes tell.
	for i, a := range f.allocs {
		c := *a
		c.ModifyIndex = f.index
		f.allocs[i] = &c
	}
	for i, d := range f.deps {
		c := *d
		c.ModifyIndex = f.index
		f.deps[i] = &c
	}
	f.publish()
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeCluster) counts() (calls, active, maxActive map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls), maps.Clone(f.active), maps.Clone(f.maxActive)
}

// queries returns a copy of the log of one input's queries.
func (f *fakeCluster) queries(input string) []fakeQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeQuery
	for _, q := range f.log {
		if q.input == input {
			out = append(out, *q)
		}
	}
	return out
}

// blocking reports whether each input has a blocking query in flight.
func (f *fakeCluster) blocking(inputs ...string) bool {
	for _, s := range inputs {
		qs := f.queries(s)
		if len(qs) == 0 || qs[len(qs)-1].index == 0 || qs[len(qs)-1].ended {
			return false
		}
	}
	return true
}

// Events is Nomad's event stream: each change of the cluster (set) sends
// every allocation and deployment as an event, the way the real stream
// sends them (JSON, allocations without their job).
func (f *fakeCluster) Events(ctx context.Context, jobIDs []string, index uint64) (<-chan *api.Events, error) {
	// The query log keeps the index asked for; it answers at once.
	if _, _, err := blockingQuery(ctx, f, "events", index, 0, func() (struct{}, error) { return struct{}{}, f.nomadErr }); err != nil {
		return nil, err
	}
	ch := make(chan *api.Events, 64)
	f.mu.Lock()
	f.streams = append(f.streams, fakeStream{ctx: ctx, ch: ch})
	f.mu.Unlock()
	return ch, nil
}

// JobStatus is a read of one job.
func (f *fakeCluster) JobStatus(ctx context.Context, namespace, id string) ([]*api.AllocationListStub, []*api.Deployment, uint64, error) {
	type status struct {
		allocs []*api.AllocationListStub
		deps   []*api.Deployment
		index  uint64
	}
	st, _, err := blockingQuery(ctx, f, "status", 0, 0, func() (status, error) {
		var st status
		for _, a := range f.allocs {
			if a.Namespace == namespace && a.JobID == id {
				st.allocs = append(st.allocs, a)
			}
		}
		for _, d := range f.deps {
			if d.Namespace == namespace && d.JobID == id {
				st.deps = append(st.deps, d)
			}
		}
		st.index = f.index
		return st, f.nomadErr
	})
	return st.allocs, st.deps, st.index, err
}

func (f *fakeCluster) Checks(ctx context.Context, services []string, index uint64, wait time.Duration) ([]*consulapi.HealthCheck, uint64, error) {
	return blockingQuery(ctx, f, "checks", index, wait, func() ([]*consulapi.HealthCheck, error) {
		var out []*consulapi.HealthCheck
		for _, c := range f.checks {
			if slices.Contains(services, c.ServiceName) {
				out = append(out, c)
			}
		}
		return out, f.consulErr
	})
}

// fakeStream is one subscription to the fake's events.
type fakeStream struct {
	ctx context.Context
	ch  chan *api.Events
}

// publish sends the cluster's objects to the streams open. Needs f.mu.
func (f *fakeCluster) publish() {
	batch := &api.Events{Index: f.index}
	for _, a := range f.allocs {
		batch.Events = append(batch.Events, event(api.TopicAllocation, "Allocation", &api.Allocation{
			ID: a.ID, Namespace: a.Namespace, JobID: a.JobID, TaskGroup: a.TaskGroup,
			DesiredStatus: a.DesiredStatus, ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription,
			TaskStates: a.TaskStates, DeploymentStatus: a.DeploymentStatus, CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex,
		}))
	}
	for _, d := range f.deps {
		batch.Events = append(batch.Events, event(api.TopicDeployment, "Deployment", d))
	}
	open := f.streams[:0]
	for _, st := range f.streams {
		if st.ctx.Err() != nil {
			continue
		}
		select {
		case st.ch <- batch:
		default:
		}
		open = append(open, st)
	}
	f.streams = open
}

// event is a stream event whose payload went through JSON, as on the wire.
func event(topic api.Topic, field string, obj any) api.Event {
	b, err := json.Marshal(map[string]any{field: obj})
	if err != nil {
		panic(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(b, &payload); err != nil {
		panic(err)
	}
	return api.Event{Topic: topic, Payload: payload}
}

// blockingQuery answers like the real APIs; get runs under f.mu.
func blockingQuery[T any](ctx context.Context, f *fakeCluster, input string, index uint64, wait time.Duration, get func() (T, error)) (T, uint64, error) {
	q := &fakeQuery{input: input, index: index, wait: wait}
	if dl, ok := ctx.Deadline(); ok {
		q.budget = time.Until(dl)
	}
	f.mu.Lock()
	f.calls[input]++
	f.active[input]++
	f.maxActive[input] = max(f.maxActive[input], f.active[input])
	f.log = append(f.log, q)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active[input]--
		q.ended = true
		f.mu.Unlock()
	}()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		f.mu.Lock()
		v, err := get()
		at, changed, hold, hang := f.index, f.changed, f.hold, f.hang[input]
		f.mu.Unlock()
		var timedOut <-chan time.Time
		if !hang {
			if err != nil {
				var zero T
				return zero, 0, err
			}
			if at > index {
				return v, at, nil
			}
			timedOut = timeout.C
		}
		select {
		case <-changed:
		case <-timedOut:
			return v, at, nil
		case <-ctx.Done():
			f.mu.Lock()
			q.cancelled = true
			f.mu.Unlock()
			if hold != nil {
				select {
				case f.held <- input:
				default:
				}
				<-hold
			}
			var zero T
			return zero, 0, ctx.Err()
		}
	}
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testWatcherOptions = WatcherOptions{Tick: 10 * time.Millisecond, Pause: time.Millisecond, Retry: func(int) time.Duration { return time.Millisecond }}

// withoutBackstop is testWatcherOptions with a tick that never comes
// during a test: only news and the verdict's Recheck wake a watch.
func withoutBackstop() WatcherOptions {
	o := testWatcherOptions
	o.Tick = time.Hour
	return o
}

// quickPolicy judges a healthy rollout in about 60ms of the real clock.
var quickPolicy = Policy{MinHealthy: 30 * time.Millisecond, Deadline: time.Minute, Bake: 30 * time.Millisecond}

// watchResult is what a Watch run in the background returned, and every
// verdict it reported on the way.
type watchResult struct {
	verdict  Verdict
	err      error
	progress []Verdict
}

// startWatch runs w.Watch in the background, with a deadline from w's
// clock. Each progress report is also sent to reports, when there is room.
func startWatch(ctx context.Context, w *Watcher, target Target, p Policy, reports chan<- Verdict) <-chan watchResult {
	done := make(chan watchResult, 1)
	tracker := NewTracker(p, w.opts.Now().Add(p.Deadline))
	go func() {
		var r watchResult
		r.verdict, r.err = w.Watch(ctx, target, tracker, func(v Verdict) {
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

// awaitReport reads reports until one matches.
func awaitReport(t *testing.T, reports <-chan Verdict, what string, match func(Verdict) bool) Verdict {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case v := <-reports:
			if match(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("timed out waiting for a report: %s", what)
		}
	}
}

// eventually polls cond until it holds, failing the test after a while.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
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
	// No backstop tick: the checks' change, the end of min healthy and of
	// the bake must each wake the watch on their own.
	w := NewWatcher(t.Context(), f, f, withoutBackstop())

	reports := make(chan Verdict, 1)
	done := startWatch(t.Context(), w, helloTarget("ok", 0), quickPolicy, reports)
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
	if _, active, _ := f.counts(); active["events"]+active["status"]+active["checks"] != 0 {
		t.Errorf("queries still in flight after the last watch: %v", active)
	}
}

// TestWatcher_ChecksChangeWakesTheirJobsWatch: with Nomad quiet and no
// backstop tick, a change of the job's checks in Consul alone wakes its
// watch, also after an answer that changed only another service's.
func TestWatcher_ChecksChangeWakesTheirJobsWatch(t *testing.T) {
	healthy := captured(t, "healthy")
	f := newFakeCluster(healthy)
	passing := healthy.Checks
	critical := make([]*consulapi.HealthCheck, len(passing))
	for i, c := range passing {
		cc := *c
		cc.Status = consulapi.HealthCritical
		critical[i] = &cc
	}
	f.checks = critical
	w := NewWatcher(t.Context(), f, f, withoutBackstop())

	reports := make(chan Verdict, 4)
	done := startWatch(t.Context(), w, helloTarget("ok", 0), quickPolicy, reports)
	first := await(t, reports, "the first verdict")
	if first.Phase != state.Watching {
		t.Fatalf("first verdict = %+v, want watching", first)
	}
	// A check of another service changes: an answer, but no news for
	// this watch.
	setChecks := func(checks []*consulapi.HealthCheck) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.checks = checks
		f.index++
		close(f.changed)
		f.changed = make(chan struct{})
	}
	setChecks(append(slices.Clone(critical), &consulapi.HealthCheck{Node: "n1", CheckID: "other", ServiceName: "other", Status: consulapi.HealthPassing}))
	setChecks(passing)

	r := await(t, done, "the watch to end")
	if r.err != nil || r.verdict.Phase != state.Healthy {
		t.Fatalf("Watch = %+v, %v; want healthy", r.verdict, r.err)
	}
}

func TestChangedServices(t *testing.T) {
	check := func(service, id, status, output string) *consulapi.HealthCheck {
		return &consulapi.HealthCheck{Node: "n1", ServiceName: service, CheckID: id, Status: status, Output: output}
	}
	old := map[string][]*consulapi.HealthCheck{
		"web":  {check("web", "c1", "passing", "ok"), check("web", "c2", "passing", "ok")},
		"api":  {check("api", "c3", "critical", "500")},
		"db":   {check("db", "c4", "passing", "")},
		"gone": {check("gone", "c5", "passing", "")},
	}
	next := map[string][]*consulapi.HealthCheck{
		// The same checks in another order: no change.
		"web": {check("web", "c2", "passing", "ok"), check("web", "c1", "passing", "ok")},
		// A new output is news: a verdict quotes it.
		"api": {check("api", "c3", "critical", "502")},
		"db":  {check("db", "c4", "critical", "")},
		"new": {check("new", "c6", "passing", "")},
	}
	got := slices.Sorted(maps.Keys(changedServices(old, next)))
	if want := []string{"api", "db", "gone", "new"}; !slices.Equal(got, want) {
		t.Errorf("changed = %v, want %v", got, want)
	}
}

func TestWatcher_FeedsStopWithTheLastWatch(t *testing.T) {
	f := newFakeCluster(captured(t, "healthy"))
	w := NewWatcher(t.Context(), f, f, testWatcherOptions)
	for round := range 2 {
		r := await(t, startWatch(t.Context(), w, helloTarget("ok", 0), Policy{Deadline: time.Minute, Bake: 20 * time.Millisecond}, nil), "the watch to end")
		if r.err != nil || r.verdict.Phase != state.Healthy {
			t.Fatalf("round %d: Watch = %+v, %v; want healthy", round, r.verdict, r.err)
		}
		calls, active, _ := f.counts()
		for _, input := range []string{"events", "status", "checks"} {
			if calls[input] == 0 {
				t.Errorf("round %d: no %s query", round, input)
			}
			if active[input] != 0 {
				t.Errorf("round %d: %d %s queries still in flight after Watch returned", round, active[input], input)
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

func TestWatcher_FeedsStopWhenTheOwnerContextEnds(t *testing.T) {
	f := newFakeCluster(captured(t, "healthy"))
	owner, stop := context.WithCancel(t.Context())
	w := NewWatcher(owner, f, f, testWatcherOptions)
	reports := make(chan Verdict, 1)
	done := startWatch(t.Context(), w, helloTarget("ok", 0), Policy{MinHealthy: time.Hour, Deadline: time.Hour}, reports)
	await(t, reports, "the first verdict")
	stop()

	r := await(t, done, "the watch to end with its owner")
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Watch error = %v, want context.Canceled", r.err)
	}
	if _, active, _ := f.counts(); active["events"]+active["status"]+active["checks"] != 0 {
		t.Errorf("queries still in flight after the owner's context ended: %v", active)
	}
	// A watch started after the owner is gone ends at once.
	r = await(t, startWatch(t.Context(), w, helloTarget("ok", 0), Policy{MinHealthy: time.Hour, Deadline: time.Hour}, nil), "a late watch to end")
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("late Watch error = %v, want context.Canceled", r.err)
	}
}

func TestWatcher_EveryQueryHasADeadline(t *testing.T) {
	f := newFakeCluster(captured(t, "healthy"))
	opts := testWatcherOptions
	opts.Wait, opts.CallTimeout = 16*time.Second, 2*time.Second
	w := NewWatcher(t.Context(), f, f, opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := startWatch(ctx, w, helloTarget("ok", 0), Policy{MinHealthy: time.Hour, Deadline: time.Hour}, nil)
	// Nomad's stream subscription and job reads answer at once; Consul's
	// query blocks.
	// (The subscription's deadline is a timer that cancels it, as the
	// stream must outlive it: TestWatcher_InputHungFromTheStartIsUnreachable
	// covers it.)
	inputs := []string{"status", "checks"}
	eventually(t, "a blocking query of Consul and a read of the job", func() bool { return f.blocking("checks") && len(f.queries("status")) > 0 })
	cancel()
	await(t, done, "the watch to end")

	for _, input := range inputs {
		qs := f.queries(input)
		// The first query answers at once, so that an input that hangs
		// from the start is known within the call timeout.
		if qs[0].index != 0 || qs[0].wait != 0 {
			t.Errorf("%s: first query index %d, wait %s; want 0, 0", input, qs[0].index, qs[0].wait)
		}
		for i, q := range qs {
			want := opts.CallTimeout
			if q.index != 0 {
				// The wait, the server's jitter on it, and the call timeout.
				want = opts.Wait + opts.Wait/16 + opts.CallTimeout
			}
			if q.budget > want || q.budget < want-time.Second {
				t.Errorf("%s query %d (index %d): deadline in %s, want %s", input, i, q.index, q.budget, want)
			}
		}
	}
}

func TestWatcher_ConsulErrorIsUnreachable(t *testing.T) {
	errDown := errors.New("connection refused")

	t.Run("recovers", func(t *testing.T) {
		f := newFakeCluster(captured(t, "healthy"))
		f.consulErr = errDown
		w := NewWatcher(t.Context(), f, f, testWatcherOptions)
		reports := make(chan Verdict, 1)
		done := startWatch(t.Context(), w, helloTarget("ok", 0), Policy{MinHealthy: 20 * time.Millisecond, Deadline: time.Minute, Bake: 20 * time.Millisecond}, reports)
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

	t.Run("unknown at the deadline, unresolved after the window", func(t *testing.T) {
		f := newFakeCluster(captured(t, "healthy"))
		f.consulErr = errDown
		w := NewWatcher(t.Context(), f, f, testWatcherOptions)
		r := await(t, startWatch(t.Context(), w, helloTarget("ok", 0), Policy{Deadline: 50 * time.Millisecond, Unresolved: 50 * time.Millisecond}, nil), "the watch to end")
		if r.err != nil || r.verdict.Phase != state.Unknown || !r.verdict.Unresolved || r.verdict.Unreachable != "consul: connection refused" {
			t.Fatalf("Watch = %+v, %v; want unknown, unresolved, with Consul unreachable", r.verdict, r.err)
		}
		if want := "no verdict for 50ms: consul: connection refused; a bad version may be running"; r.verdict.Reason != want {
			t.Errorf("reason = %q, want %q", r.verdict.Reason, want)
		}
		if got, want := phases(r.progress), []state.Phase{state.Watching, state.Unknown, state.Unknown}; !slices.Equal(got, want) {
			t.Errorf("progress phases = %v, want %v", got, want)
		}
	})

	t.Run("no Consul configured", func(t *testing.T) {
		f := newFakeCluster(captured(t, "healthy"))
		w := NewWatcher(t.Context(), f, nil, testWatcherOptions)
		r := await(t, startWatch(t.Context(), w, helloTarget("ok", 0), Policy{Deadline: 50 * time.Millisecond, Unresolved: 50 * time.Millisecond}, nil), "the watch to end")
		if r.err != nil || r.verdict.Phase != state.Unknown || r.verdict.Unreachable != "consul: no Consul configured" {
			t.Fatalf("Watch = %+v, %v; want unknown without Consul", r.verdict, r.err)
		}
		if calls, _, _ := f.counts(); calls["checks"] != 0 {
			t.Errorf("%d Consul queries without a Consul", calls["checks"])
		}
	})

	// Item 10: the truth arriving after the deadline is acted on.
	t.Run("unknown, then re-judged when Consul answers again", func(t *testing.T) {
		healthy := captured(t, "healthy")
		f := newFakeCluster(healthy)
		f.consulErr = errDown
		w := NewWatcher(t.Context(), f, f, testWatcherOptions)
		reports := make(chan Verdict, 10)
		done := startWatch(t.Context(), w, helloTarget("ok", 0), Policy{Deadline: 50 * time.Millisecond, Unresolved: time.Hour}, reports)
		awaitReport(t, reports, "unknown", func(v Verdict) bool { return v.Phase == state.Unknown })

		critical := *healthy.Checks[0]
		critical.Status = consulapi.HealthCritical
		f.set(func(f *fakeCluster) { f.consulErr, f.checks = nil, []*consulapi.HealthCheck{&critical} })
		r := await(t, done, "the watch to end")
		if r.err != nil || r.verdict.Phase != state.Failed || !strings.HasPrefix(r.verdict.Reason, `not healthy by the health deadline: check "`) {
			t.Fatalf("Watch = %+v, %v; want failed on the critical check", r.verdict, r.err)
		}
		if got, want := slices.Compact(phases(r.progress)), []state.Phase{state.Watching, state.Unknown, state.Watching, state.Failed}; !slices.Equal(got, want) {
			t.Errorf("progress phases = %v, want %v", got, want)
		}
	})
}

// Item 8: an input that accepts the query and never answers.
func TestWatcher_InputHungFromTheStartIsUnreachable(t *testing.T) {
	for _, tt := range []struct{ input, unreachable string }{
		{"checks", "consul: no answer within 50ms: context deadline exceeded"},
		{"status", "nomad: no answer within 50ms: context deadline exceeded"},
		{"events", "nomad: nomad event stream: no answer within 50ms: context canceled"},
	} {
		t.Run(tt.input, func(t *testing.T) {
			f := newFakeCluster(captured(t, "healthy"))
			f.hang[tt.input] = true
			opts := testWatcherOptions
			opts.CallTimeout = 50 * time.Millisecond
			w := NewWatcher(t.Context(), f, f, opts)
			reports := make(chan Verdict, 10)
			ctx, cancel := context.WithCancel(t.Context())
			done := startWatch(ctx, w, helloTarget("ok", 0), Policy{Deadline: 200 * time.Millisecond, Unresolved: time.Hour}, reports)

			first := await(t, reports, "the first verdict")
			if first.Phase != state.Watching || first.Unreachable != tt.unreachable {
				t.Errorf("first verdict = %s, unreachable %q; want watching, %q", first.Phase, first.Unreachable, tt.unreachable)
			}
			unknown := awaitReport(t, reports, "unknown at the deadline", func(v Verdict) bool { return v.Phase == state.Unknown })
			if want := "no verdict by the health deadline: " + tt.unreachable; unknown.Reason != want || unknown.Final() {
				t.Errorf("unknown: reason %q, final %v; want %q, not final", unknown.Reason, unknown.Final(), want)
			}
			cancel()
			if r := await(t, done, "the watch to end"); !errors.Is(r.err, context.Canceled) {
				t.Errorf("Watch error = %v, want context.Canceled", r.err)
			}
		})
	}
}

// Item 7: Consul stops answering during the bake while its check goes
// critical.
func TestWatcher_ConsulHungDuringTheBakeIsNeverHealthy(t *testing.T) {
	healthy := captured(t, "healthy")
	f := newFakeCluster(healthy)
	clock := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	opts := testWatcherOptions
	opts.CallTimeout, opts.Now = 50*time.Millisecond, clock.Now
	w := NewWatcher(t.Context(), f, f, opts)
	reports := make(chan Verdict, 20)
	p := Policy{Deadline: time.Minute, Bake: 30 * time.Second, Unresolved: time.Hour}
	done := startWatch(t.Context(), w, helloTarget("ok", 0), p, reports)
	awaitReport(t, reports, "baking", func(v Verdict) bool { return v.Phase == state.Baking })

	critical := *healthy.Checks[0]
	critical.Status = consulapi.HealthCritical
	f.set(func(f *fakeCluster) { f.hang["checks"], f.checks = true, []*consulapi.HealthCheck{&critical} })
	clock.Add(p.Bake)
	v := awaitReport(t, reports, "Consul unreachable", func(v Verdict) bool { return v.Unreachable != "" })
	if v.Phase != state.Baking || v.Unreachable != "consul: no answer within 50ms: context deadline exceeded" {
		t.Errorf("after the bake: %s, unreachable %q; want baking, Consul unreachable", v.Phase, v.Unreachable)
	}
	clock.Add(p.Deadline)
	awaitReport(t, reports, "unknown", func(v Verdict) bool { return v.Phase == state.Unknown })

	// Consul answers again: the rollout is judged afresh, and fails.
	f.set(func(f *fakeCluster) { f.hang["checks"] = false })
	awaitReport(t, reports, "re-judged", func(v Verdict) bool { return v.Phase == state.Watching })
	clock.Add(p.Deadline)
	r := await(t, done, "the watch to end")
	if r.err != nil || r.verdict.Phase != state.Failed || !strings.Contains(r.verdict.Reason, "critical") {
		t.Fatalf("Watch = %+v, %v; want failed on the critical check", r.verdict, r.err)
	}
	// With the clock standing still, min healthy 0 is over at once.
	if got, want := slices.Compact(phases(r.progress)), []state.Phase{state.Baking, state.Unknown, state.Watching, state.Failed}; !slices.Equal(got, want) {
		t.Errorf("progress phases = %v, want %v", got, want)
	}
}

func TestWatcher_FreshReadCancelsTheBlockingQueryOnceForAllWatches(t *testing.T) {
	f := newFakeCluster(captured(t, "healthy"))
	clock := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	opts := testWatcherOptions
	// Blocking queries return only when cancelled.
	opts.Wait, opts.Now = time.Hour, clock.Now
	w := NewWatcher(t.Context(), f, f, opts)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := Policy{MinHealthy: 10 * time.Second, Deadline: time.Hour, Bake: time.Hour}
	aReports, bReports := make(chan Verdict, 10), make(chan Verdict, 10)
	aDone := startWatch(ctx, w, helloTarget("ok", 0), p, aReports)
	bDone := startWatch(ctx, w, helloTarget("ok", 0), p, bReports)
	await(t, aReports, "the first verdict of A")
	await(t, bReports, "the first verdict of B")
	inputs := []string{"checks"}
	eventually(t, "a blocking query of every input", func() bool { return f.blocking(inputs...) })

	// Min healthy is over for both: their data, sent before, is too old.
	clock.Add(p.MinHealthy)
	awaitReport(t, aReports, "A baking", func(v Verdict) bool { return v.Phase == state.Baking })
	awaitReport(t, bReports, "B baking", func(v Verdict) bool { return v.Phase == state.Baking })
	eventually(t, "blocking queries again", func() bool { return f.blocking(inputs...) })
	cancel()
	await(t, aDone, "A to end")
	await(t, bDone, "B to end")

	for _, input := range inputs {
		var kinds []string
		for _, q := range f.queries(input) {
			switch {
			case q.index == 0:
				kinds = append(kinds, "at once")
			case q.cancelled:
				kinds = append(kinds, "blocking, cancelled")
			default:
				kinds = append(kinds, "blocking")
			}
		}
		// The last blocking query is cancelled by the end of the watches.
		want := []string{"at once", "blocking, cancelled", "at once", "blocking, cancelled"}
		if !slices.Equal(kinds, want) {
			t.Errorf("%s queries: %q, want %q", input, kinds, want)
		}
	}
}

func TestWatcher_NomadErrorIsUnreachable(t *testing.T) {
	// A failed allocation Nomad showed before it became unreachable does
	// not fail the rollout while it cannot be asked.
	f := newFakeCluster(captured(t, "driver-failure"))
	f.nomadErr = errors.New("503 Service Unavailable")
	w := NewWatcher(t.Context(), f, f, testWatcherOptions)
	reports := make(chan Verdict, 1)
	done := startWatch(t.Context(), w, helloTarget("nocmd", 0), Policy{Deadline: time.Minute}, reports)
	first := await(t, reports, "the first verdict")
	if first.Phase != state.Watching || !strings.Contains(first.Unreachable, "503 Service Unavailable") {
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
	w := NewWatcher(t.Context(), f, f, testWatcherOptions)
	ctx, cancel := context.WithCancel(t.Context())
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
	for _, input := range []string{"events", "checks"} {
		if maxActive[input] != 1 {
			t.Errorf("%s: %d queries at once, want 1 for both watches", input, maxActive[input])
		}
		if active[input] != 0 {
			t.Errorf("%s: %d queries in flight after both watches ended", input, active[input])
		}
		// A query per change and a few spare, not one per watch.
		if calls[input] > 1+6+3 {
			t.Errorf("%s: %d queries for 6 answers", input, calls[input])
		}
	}
}

func TestWatcher_LastWatchDoesNotWaitForFeedsStartedAfterIt(t *testing.T) {
	f := newFakeCluster(captured(t, "healthy"))
	f.hold, f.held = make(chan struct{}), make(chan string, 3)
	w := NewWatcher(t.Context(), f, f, testWatcherOptions)
	p := Policy{MinHealthy: time.Hour, Deadline: time.Hour}

	// A ends while its feeds block on a cluster that does not change, so
	// its end cancels queries in flight, which Nomad is slow to give back.
	aCtx, cancelA := context.WithCancel(t.Context())
	aReports := make(chan Verdict, 1)
	aDone := startWatch(aCtx, w, helloTarget("ok", 0), p, aReports)
	await(t, aReports, "the first verdict of A")
	eventually(t, "A's feeds to block", func() bool { return f.blocking("checks") })
	cancelA()
	await(t, f.held, "a query of A's feeds to be cancelled")

	// B starts while A still waits for its feeds.
	bCtx, cancelB := context.WithCancel(t.Context())
	defer cancelB()
	bReports := make(chan Verdict, 1)
	bDone := startWatch(bCtx, w, helloTarget("ok", 0), p, bReports)
	await(t, bReports, "the first verdict of B")
	close(f.hold)

	a := await(t, aDone, "A to end while B still watches")
	if !errors.Is(a.err, context.Canceled) {
		t.Errorf("A: Watch error = %v, want context.Canceled", a.err)
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
	if _, active, _ := f.counts(); active["events"]+active["status"]+active["checks"] != 0 {
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
	w := NewWatcher(t.Context(), f, agent, testWatcherOptions)
	reports := make(chan Verdict, 10)
	done := startWatch(t.Context(), w, helloTarget("ok", 0), Policy{Deadline: time.Minute, Bake: time.Hour}, reports)
	awaitReport(t, reports, "baking", func(v Verdict) bool { return v.Phase == state.Baking })
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

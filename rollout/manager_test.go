package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/health"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

func ptr[T any](v T) *T { return &v }

func file(id, path, fp string) *jobs.File {
	return &jobs.File{Path: path, Fingerprint: fp, Job: &api.Job{ID: ptr(id), Namespace: ptr("default"), Type: ptr("service")}}
}

var key = jobs.Key{Namespace: "default", ID: "web"}

// specsAt serves fixed files by commit.
type specsAt map[string]*jobs.File

func (s specsAt) JobAt(_ context.Context, commit, path string) (*jobs.File, error) {
	if f, ok := s[commit]; ok && f.Path == path {
		return f, nil
	}
	return nil, errors.New("object not found")
}

func newManager(t *testing.T, ledger *state.Ledger, specs Specs, opts Options) *Manager {
	t.Helper()
	m := New(context.Background(), ledger, health.NewWatcher(context.Background(), &fakeNomad{}, nil, health.WatcherOptions{}), nil, specs, opts)
	t.Cleanup(m.Close)
	return m
}

func quarantined(t *testing.T, lastGood *state.Revision) *state.Ledger {
	t.Helper()
	l := state.NewLedger(&state.MemoryKV{}, "drover/test/", state.LedgerOptions{})
	if _, err := l.Update(context.Background(), key, func(j *state.Job) {
		j.LastGood = lastGood
		j.Quarantine(state.Quarantine{Fingerprint: "bad", Commit: "c2", Reason: "check critical"})
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestPin(t *testing.T) {
	good := state.Revision{Commit: "c1", Fingerprint: "good", Path: "web.nomad.hcl"}
	goodFile := file("web", "web.nomad.hcl", "good")
	tests := []struct {
		name     string
		lastGood *state.Revision
		specs    Specs
		opts     Options
		// want: "replaced", a hold containing text, or an error containing text
		replaced  bool
		hold, err string
	}{
		{name: "quarantined spec is replaced by the last good commit's", lastGood: &good, specs: specsAt{"c1": goodFile}, replaced: true},
		{name: "no last good commit holds the job", specs: specsAt{}, hold: "no last good commit"},
		{name: "no-rollback holds the job", lastGood: &good, specs: specsAt{"c1": goodFile}, opts: Options{NoRollback: true}, hold: "--no-rollback"},
		{name: "no git history holds the job", lastGood: &good, hold: "no git history"},
		{name: "unreadable last good spec holds the job as a failed rollback", lastGood: &good, specs: specsAt{}, hold: "rollback failed: cannot read the last good commit c1"},
		{name: "last good file declaring another job holds it as a failed rollback", lastGood: &good, specs: specsAt{"c1": file("other", "web.nomad.hcl", "good")}, hold: "declares job default/other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, quarantined(t, tc.lastGood), tc.specs, tc.opts)
			bad := file("web", "web.nomad.hcl", "bad")
			other := file("api", "api.nomad.hcl", "x")
			set := m.Pin(context.Background(), &jobs.Set{Revision: "c3", Files: []*jobs.File{bad, other}})
			got := set.Files[0]
			if set.Files[1] != other {
				t.Error("a job without state was changed")
			}
			if bad.Hold != "" || bad.Err != nil || bad.Commit != "" {
				t.Error("Pin changed the caller's file")
			}
			switch {
			case tc.replaced:
				if got.Fingerprint != "good" || got.Commit != "c1" || got.Hold != "" || got.Err != nil {
					t.Errorf("file = %+v; want the last good spec at c1", got)
				}
			case tc.hold != "":
				if !strings.Contains(got.Hold, tc.hold) || !strings.Contains(got.Hold, "c2") || got.Fingerprint != "bad" {
					t.Errorf("hold = %q; want it to mention %q and the bad commit", got.Hold, tc.hold)
				}
			default:
				if got.Err == nil || !strings.Contains(got.Err.Error(), tc.err) || !strings.Contains(got.Err.Error(), "web.nomad.hcl") {
					t.Errorf("err = %v; want %q naming the file", got.Err, tc.err)
				}
			}
		})
	}
}

// fakeNomad is the watcher's Nomad: job reads from fixed lists, and an
// event stream that sends every allocation and deployment (through JSON,
// as on the wire) each time the lists change.
type fakeNomad struct {
	mu      sync.Mutex
	index   uint64
	allocs  []*api.AllocationListStub
	deps    []*api.Deployment
	streams []chan *api.Events
}

func (f *fakeNomad) set(allocs []*api.AllocationListStub, deps []*api.Deployment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.allocs, f.deps = nil, nil
	batch := &api.Events{Index: f.index}
	for _, a := range allocs {
		c := *a
		c.ModifyIndex = f.index
		f.allocs = append(f.allocs, &c)
		batch.Events = append(batch.Events, wireEvent(api.TopicAllocation, "Allocation", &api.Allocation{
			ID: c.ID, Namespace: c.Namespace, JobID: c.JobID, TaskGroup: c.TaskGroup, ClientStatus: c.ClientStatus,
			DesiredStatus: c.DesiredStatus, TaskStates: c.TaskStates, ModifyIndex: c.ModifyIndex,
		}))
	}
	for _, d := range deps {
		c := *d
		c.ModifyIndex = f.index
		f.deps = append(f.deps, &c)
		batch.Events = append(batch.Events, wireEvent(api.TopicDeployment, "Deployment", &c))
	}
	for _, ch := range f.streams {
		select {
		case ch <- batch:
		default:
		}
	}
}

func (f *fakeNomad) Events(ctx context.Context, _ []string, _ uint64) (<-chan *api.Events, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan *api.Events, 64)
	f.streams = append(f.streams, ch)
	return ch, nil
}

func (f *fakeNomad) JobStatus(ctx context.Context, namespace, id string) ([]*api.AllocationListStub, []*api.Deployment, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var allocs []*api.AllocationListStub
	var deps []*api.Deployment
	for _, a := range f.allocs {
		if a.Namespace == namespace && a.JobID == id {
			allocs = append(allocs, a)
		}
	}
	for _, d := range f.deps {
		if d.Namespace == namespace && d.JobID == id {
			deps = append(deps, d)
		}
	}
	return allocs, deps, f.index, nil
}

// wireEvent is a stream event whose payload went through JSON.
func wireEvent(topic api.Topic, field string, obj any) api.Event {
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

type noChecks struct{}

func (noChecks) Checks(context.Context, []string, uint64, time.Duration) ([]*consulapi.HealthCheck, uint64, error) {
	return nil, 1, nil
}

func applied(commit, fp string, version uint64) *reconcile.Report {
	job := &api.Job{ID: ptr("web"), Namespace: ptr("default"), Type: ptr("service"), Version: ptr(version),
		TaskGroups: []*api.TaskGroup{{Name: ptr("app")}}}
	return &reconcile.Report{Revision: commit, Jobs: []*reconcile.JobResult{{
		Key: key, Path: "web.nomad.hcl", Commit: commit, Fingerprint: fp, Class: reconcile.Update,
		Applied: &reconcile.Applied{Version: version, Job: job},
	}}}
}

func alloc(version uint64, client string) *api.AllocationListStub {
	return &api.AllocationListStub{ID: "a1", Namespace: "default", JobID: "web", JobVersion: version, TaskGroup: "app",
		DesiredStatus: "run", ClientStatus: client}
}

// TestRecord_RecordOnlyLeavesTheWatchToTheAgent: `apply` without --wait
// records the rollout in flight and reads nothing from Nomad.
func TestRecord_RecordOnlyLeavesTheWatchToTheAgent(t *testing.T) {
	ctx := context.Background()
	nomad := &fakeNomad{}
	ledger := state.NewLedger(&state.MemoryKV{}, "drover/test/", state.LedgerOptions{})
	m := New(ctx, ledger, health.NewWatcher(ctx, nomad, noChecks{}, health.WatcherOptions{}), nil, nil,
		Options{Policy: health.Policy{Deadline: time.Minute}, RecordOnly: true, Logger: zerolog.Nop()})
	defer m.Close()
	if err := m.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	m.Record(ctx, applied("c1", "fp", 1))
	if j := ledger.Get(key); j == nil || j.Rollout == nil || j.Rollout.Phase != state.Watching || j.Rollout.Commit != "c1" {
		t.Fatalf("state after a recorded register: %+v; want its rollout in flight for the agent", j)
	}
	if m.watching(key) != nil {
		t.Error("the register is watched in process")
	}
	nomad.mu.Lock()
	streams := len(nomad.streams)
	nomad.mu.Unlock()
	if streams != 0 {
		t.Errorf("%d event streams opened; want none", streams)
	}
}

// quickManager is a prepared manager over nomad and ledger whose
// rollouts are judged in tens of milliseconds; triggered returns the
// cycles it asked for so far.
func quickManager(t *testing.T, nomad *fakeNomad, ledger *state.Ledger) (m *Manager, triggered func() []string) {
	t.Helper()
	ctx := context.Background()
	var triggers []string
	var mu sync.Mutex
	m = New(ctx, ledger, health.NewWatcher(ctx, nomad, noChecks{}, health.WatcherOptions{Tick: 5 * time.Millisecond, Pause: time.Millisecond}), nil, nil,
		Options{
			Policy:  health.Policy{MinHealthy: 20 * time.Millisecond, Deadline: time.Minute, Bake: 20 * time.Millisecond},
			Trigger: func(r string) { mu.Lock(); triggers = append(triggers, r); mu.Unlock() },
			Logger:  zerolog.Nop(),
		})
	t.Cleanup(m.Close)
	if err := m.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	return m, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(triggers)
	}
}

// TestRecord_VerdictsMoveTheState follows two rollouts through the manager:
// a healthy one becomes last good; a failing one is quarantined and asks
// for the rollback cycle.
func TestRecord_VerdictsMoveTheState(t *testing.T) {
	ctx := context.Background()
	nomad := &fakeNomad{}
	ledger := state.NewLedger(&state.MemoryKV{}, "drover/test/", state.LedgerOptions{})
	m, triggered := quickManager(t, nomad, ledger)

	nomad.set([]*api.AllocationListStub{alloc(1, "running")}, nil)
	m.Record(ctx, applied("c1", "good", 1))
	if st := m.Status(); len(st) != 1 || st[0].State != "rolling_out" {
		t.Fatalf("status while watching = %+v", st)
	}
	if err := m.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	j := ledger.Get(key)
	if j.LastGood == nil || j.LastGood.Commit != "c1" || j.Rollout.Phase != state.Healthy {
		t.Fatalf("after a healthy rollout: %+v", j)
	}

	nomad.set([]*api.AllocationListStub{alloc(2, "failed")}, nil)
	m.Record(ctx, applied("c2", "bad", 2))
	if err := m.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	outcomes := m.Outcomes()
	j = ledger.Get(key)
	if _, ok := j.QuarantineOf("bad"); !ok || j.LastGood.Commit != "c1" || j.Rollout.Phase != state.Failed {
		t.Fatalf("after a failed rollout: %+v", j)
	}
	if triggers := triggered(); len(triggers) != 1 || triggers[0] != "rollback" {
		t.Errorf("triggers = %v; want one rollback", triggers)
	}
	if len(outcomes) != 2 || outcomes[0].Rollout.Phase != state.Healthy || outcomes[1].Rollout.Phase != state.Failed {
		t.Errorf("outcomes = %+v", outcomes)
	}
	if st := m.Status(); st[0].State != "failed" || st[0].LastGoodCommit != "c1" {
		t.Errorf("status after the failure = %+v", st[0])
	}
	// The history keeps both registers with their verdicts, in the state
	// store and in /v1/status.
	h := j.History
	if len(h) != 2 || h[0].Commit != "c1" || h[0].Verdict != state.Healthy || h[0].Class != "update" ||
		h[1].Commit != "c2" || h[1].Version != 2 || h[1].Verdict != state.Failed || h[1].Reason == "" {
		t.Errorf("history = %+v; want c1 healthy, then c2 failed with its reason", h)
	}
	if st := m.Status(); len(st[0].History) != 2 {
		t.Errorf("status history = %+v", st[0].History)
	}
}

// TestPin_HoldsAJobWhoseRolloutIsWatched: a cycle during a rollout must not
// re-register the spec being watched (it would fight Nomad's auto_revert).
func TestPin_HoldsAJobWhoseRolloutIsWatched(t *testing.T) {
	ctx := context.Background()
	nomad := &fakeNomad{}
	nomad.set(nil, nil) // nothing runs yet: the watch stays in flight
	m := New(ctx, state.NewLedger(&state.MemoryKV{}, "p/", state.LedgerOptions{}), health.NewWatcher(ctx, nomad, noChecks{}, health.WatcherOptions{}), nil, nil,
		Options{Logger: zerolog.Nop()})
	defer m.Close()
	m.Record(ctx, applied("c1", "fp", 1))
	set := m.Pin(ctx, &jobs.Set{Files: []*jobs.File{file("web", "web.nomad.hcl", "fp"), file("web2", "b.nomad.hcl", "x")}})
	if !strings.Contains(set.Files[0].Hold, "being watched") {
		t.Errorf("hold = %q; want the job held while its rollout is watched", set.Files[0].Hold)
	}
	if set.Files[1].Hold != "" {
		t.Error("another job was held")
	}
	newer := m.Pin(ctx, &jobs.Set{Files: []*jobs.File{file("web", "web.nomad.hcl", "changed")}})
	if newer.Files[0].Hold != "" {
		t.Error("a new spec from git was held behind the rollout of the old one")
	}
}

// TestPin_KeepsWhatDescribesTheSet: the commit's subject and author, the
// skipped files and the prune limits reach the sync past the pin step.
func TestPin_KeepsWhatDescribesTheSet(t *testing.T) {
	ctx := context.Background()
	m := New(ctx, state.NewLedger(&state.MemoryKV{}, "p/", state.LedgerOptions{}), health.NewWatcher(ctx, &fakeNomad{}, noChecks{}, health.WatcherOptions{}), nil, nil,
		Options{Logger: zerolog.Nop()})
	defer m.Close()
	in := &jobs.Set{
		Revision: "c1",
		Commit:   &jobs.CommitInfo{Subject: "deploy web"},
		Files:    []*jobs.File{file("web", "web.nomad.hcl", "fp")},
		Skipped:  []jobs.Skipped{{Path: "link.nomad", Reason: "symlink"}},
		NoPrune:  "suspended",
	}
	out := m.Pin(ctx, in)
	if out.Revision != "c1" || out.Commit == nil || out.Commit.Subject != "deploy web" || len(out.Skipped) != 1 || out.NoPrune != "suspended" {
		t.Errorf("pinned set = %+v; want the input's revision, commit, skipped files and prune limit", out)
	}
	if &out.Files[0] == &in.Files[0] {
		t.Error("the pinned set shares its file slice with the input")
	}
}

type countingSpecs struct {
	specsAt
	calls int
}

func (c *countingSpecs) JobAt(ctx context.Context, commit, path string) (*jobs.File, error) {
	c.calls++
	return c.specsAt.JobAt(ctx, commit, path)
}

// TestPin_ReadsTheLastGoodSpecOnce: a rolled-back job costs no git read and
// no parse call in the quiet cycles that follow.
func TestPin_ReadsTheLastGoodSpecOnce(t *testing.T) {
	good := state.Revision{Commit: "c1", Fingerprint: "good", Path: "web.nomad.hcl"}
	specs := &countingSpecs{specsAt: specsAt{"c1": file("web", "web.nomad.hcl", "good")}}
	m := newManager(t, quarantined(t, &good), specs, Options{})
	for i := 0; i < 3; i++ {
		set := m.Pin(context.Background(), &jobs.Set{Files: []*jobs.File{file("web", "web.nomad.hcl", "bad")}})
		if set.Files[0].Commit != "c1" {
			t.Fatalf("cycle %d: not pinned to c1: %+v", i, set.Files[0])
		}
	}
	if specs.calls != 1 {
		t.Errorf("the last good spec was read %d times in 3 cycles, want once", specs.calls)
	}
}

// TestRecord_HealthyDependencyAsksForACycle: the jobs held for a
// dependency are registered by a cycle asked for when its rollout ends
// healthy, not at the next interval; a job nothing depends on asks none.
func TestRecord_HealthyDependencyAsksForACycle(t *testing.T) {
	ctx := context.Background()
	nomad := &fakeNomad{}
	m, triggered := quickManager(t, nomad, state.NewLedger(&state.MemoryKV{}, "drover/test/", state.LedgerOptions{}))
	dep := file("api", "api.nomad.hcl", "a")
	dep.Job.Meta = map[string]string{jobs.MetaDependsOn: "web"}
	nomad.set([]*api.AllocationListStub{alloc(1, "running")}, nil)

	m.Pin(ctx, &jobs.Set{Files: []*jobs.File{file("web", "web.nomad.hcl", "good")}})
	m.Record(ctx, applied("c1", "good", 1))
	if err := m.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	m.Pin(ctx, &jobs.Set{Files: []*jobs.File{file("web", "web.nomad.hcl", "good"), dep}})
	m.Record(ctx, applied("c2", "good2", 2))
	nomad.set([]*api.AllocationListStub{alloc(2, "running")}, nil)
	if err := m.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if want, triggers := "dependency default/web settled", triggered(); len(triggers) != 1 || triggers[0] != want {
		t.Errorf("triggers = %q; want one %q, for the rollout api waits on", triggers, want)
	}
}

// TestRecord_HeldRollbackIsFailedNotRolledBack: a rollback Pin put in but a
// later step held (a suspension, a window) registered nothing, so the
// failed spec still runs: the status says failed and why it is held, not
// rolled_back. A rollback Nomad's auto_revert made is rolled_back.
func TestRecord_HeldRollbackIsFailedNotRolledBack(t *testing.T) {
	const why = "suspended by dave at 2026-11-27T22:00:00Z: hands off"
	tests := []struct {
		name      string
		class     reconcile.Class
		hold      string
		wantState string
		wantHeld  string
	}{
		{name: "held by a suspension", class: reconcile.Update, hold: why, wantState: "failed", wantHeld: why},
		{name: "already reverted by Nomad", class: reconcile.InSync, wantState: "rolled_back"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			good := state.Revision{Commit: "c1", Fingerprint: "good", Path: "web.nomad.hcl"}
			m := newManager(t, quarantined(t, &good), specsAt{"c1": file("web", "web.nomad.hcl", "good")}, Options{})
			set := m.Pin(ctx, &jobs.Set{Revision: "c3", Files: []*jobs.File{file("web", "web.nomad.hcl", "bad")}})
			if f := set.Files[0]; f.Commit != "c1" {
				t.Fatalf("file = %+v; want the last good spec at c1", f)
			}
			m.Record(ctx, &reconcile.Report{Revision: "c3", Jobs: []*reconcile.JobResult{{
				Key: key, Path: "web.nomad.hcl", Commit: "c1", Fingerprint: "good", Class: tc.class, Hold: tc.hold,
			}}})
			st := m.Status()
			if len(st) != 1 || string(st[0].State) != tc.wantState || st[0].Held != tc.wantHeld {
				t.Errorf("status = %+v; want state %s held %q", st, tc.wantState, tc.wantHeld)
			}
		})
	}
}

package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/health"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/state"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// jobsAPI serves GET /v1/job/web from a real Nomad API client: answers
// fail with the codes in errs, in order, then return the job (or 404 when
// gone is set).
type jobsAPI struct {
	mu    sync.Mutex
	errs  []int
	gone  bool
	reads int
}

func (f *jobsAPI) client(t *testing.T) *nomad.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reads++
		switch {
		case len(f.errs) > 0:
			code := f.errs[0]
			f.errs = f.errs[1:]
			http.Error(w, "no leader", code)
		case f.gone:
			http.Error(w, "job not found", http.StatusNotFound)
		default:
			_ = json.NewEncoder(w).Encode(&api.Job{ID: ptr("web"), Namespace: ptr("default"), Type: ptr("service"),
				Version: ptr(uint64(2)), TaskGroups: []*api.TaskGroup{{Name: ptr("app")}}})
		}
	}))
	t.Cleanup(srv.Close)
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return nomad.Wrap(c)
}

// inFlight is a ledger holding a rollout of web version 2 a previous agent
// left being watched.
func inFlight(t *testing.T) *state.Ledger {
	t.Helper()
	kv := &state.MemoryKV{}
	seed := state.NewLedger(kv, "p/", state.LedgerOptions{})
	if _, err := seed.Update(context.Background(), key, func(j *state.Job) {
		j.Rollout = &state.Rollout{Kind: state.Deploy, Revision: state.Revision{Commit: "c2", Fingerprint: "bad", Version: 2},
			Phase: state.Watching, Started: time.Now()}
	}); err != nil {
		t.Fatal(err)
	}
	return state.NewLedger(kv, "p/", state.LedgerOptions{})
}

// TestResume_RetriesUntilNomadAnswers (item 3): Nomad failing the read of a
// resumed rollout's job does not drop the watch; it is retried and the
// rollout reaches its verdict. The cycle (Prepare) never waits for it.
func TestResume_RetriesUntilNomadAnswers(t *testing.T) {
	ctx := context.Background()
	jobsSrv := &jobsAPI{errs: []int{500, 500}}
	nomadFeeds := &fakeNomad{}
	nomadFeeds.set([]*api.AllocationListStub{alloc(2, "failed")}, nil)
	ledger := inFlight(t)
	m := New(ctx, ledger, health.NewWatcher(ctx, nomadFeeds, noChecks{}, health.WatcherOptions{Tick: 5 * time.Millisecond, Pause: time.Millisecond}),
		jobsSrv.client(t), nil, Options{Resume: true, Logger: zerolog.Nop(), Retry: func(int) time.Duration { return time.Millisecond }})
	defer m.Close()
	if err := m.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	// The watch is live at once: a cycle now must not re-register the spec.
	if set := m.Pin(ctx, &jobs.Set{Files: []*jobs.File{file("web", "web.nomad.hcl", "bad")}}); set.Files[0].Hold == "" {
		t.Error("a job whose rollout is being resumed was not held")
	}
	if err := m.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if j := ledger.Get(key); j.Rollout.Phase != state.Failed {
		t.Errorf("resumed rollout ended %s, want failed", j.Rollout.Phase)
	}
	if jobsSrv.reads != 3 {
		t.Errorf("%d reads of the job, want 2 failed and 1 answered", jobsSrv.reads)
	}
}

// TestResume_JobGoneEndsTheWatch: a job deleted while no agent watched it
// ends its rollout with a verdict saying so, not a watch forever.
func TestResume_JobGoneEndsTheWatch(t *testing.T) {
	ctx := context.Background()
	ledger := inFlight(t)
	m := New(ctx, ledger, health.NewWatcher(ctx, &fakeNomad{}, noChecks{}, health.WatcherOptions{}),
		(&jobsAPI{gone: true}).client(t), nil, Options{Resume: true, Logger: zerolog.Nop()})
	defer m.Close()
	if err := m.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	j := ledger.Get(key)
	if j.Rollout.Phase != state.Superseded || !strings.Contains(j.Rollout.Reason, "no longer exists") {
		t.Errorf("rollout = %s %q, want superseded because the job is gone", j.Rollout.Phase, j.Rollout.Reason)
	}
}

type countRecorder struct {
	mu        sync.Mutex
	rollbacks map[string]int
}

func (c *countRecorder) RolloutFinished(string) {}
func (c *countRecorder) RollbackFinished(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rollbacks == nil {
		c.rollbacks = map[string]int{}
	}
	c.rollbacks[r]++
}

// TestPin_UnreadableRollbackTargetIsAFailedRollbackOnce (item 15): a last
// good commit that git no longer has is rollback.failed once, counted once,
// and shown as rollback_failed, however many cycles try again.
func TestPin_UnreadableRollbackTargetIsAFailedRollbackOnce(t *testing.T) {
	good := state.Revision{Commit: "c1", Fingerprint: "good", Path: "web.nomad.hcl"}
	specs := SpecsFunc(func(context.Context, string, string) (*jobs.File, error) {
		return nil, errors.New("commit c1 is neither in the clone nor fetchable")
	})
	rec := &countRecorder{}
	m := newManager(t, quarantined(t, &good), specs, Options{Recorder: rec})
	for range 3 {
		set := m.Pin(context.Background(), &jobs.Set{Files: []*jobs.File{file("web", "web.nomad.hcl", "bad")}})
		if f := set.Files[0]; f.Err != nil || !strings.Contains(f.Hold, "rollback failed") {
			t.Fatalf("file = hold %q err %v; want held as a failed rollback", f.Hold, f.Err)
		}
	}
	if rec.rollbacks["failed"] != 1 {
		t.Errorf("rollbacks counted %v, want one failed", rec.rollbacks)
	}
	if st := m.Status(); len(st) != 1 || st[0].State != "rollback_failed" {
		t.Errorf("status = %+v, want rollback_failed", st)
	}
}

// TestPin_InvalidStateKeyHoldsOnlyItsJob (item 13).
func TestPin_InvalidStateKeyHoldsOnlyItsJob(t *testing.T) {
	kv := &state.MemoryKV{}
	kv.Put("p/jobs/default/web", []byte("{not json"))
	ledger := state.NewLedger(kv, "p/", state.LedgerOptions{})
	m := newManager(t, ledger, nil, Options{})
	if err := m.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	set := m.Pin(context.Background(), &jobs.Set{Files: []*jobs.File{file("web", "web.nomad.hcl", "x"), file("api", "api.nomad.hcl", "y")}})
	if !strings.Contains(set.Files[0].Hold, "p/jobs/default/web") {
		t.Errorf("hold = %q, want the job held naming its key", set.Files[0].Hold)
	}
	if set.Files[1].Hold != "" {
		t.Errorf("another job was held: %q", set.Files[1].Hold)
	}
}

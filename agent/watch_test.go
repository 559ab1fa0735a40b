package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// syncNow asks for a cycle with reason, which names it in its sync.start,
// and waits for that cycle's sync.done: the agent's own word that the
// cycle the test asked for has finished. It returns how many cycles have
// finished by then. Only the test triggers with reason, so a cycle
// started for it cannot be another's.
func (r *runningAgent) syncNow(t *testing.T, reason string) int {
	t.Helper()
	r.Trigger(reason)
	testutil.WaitFor(t, 10*time.Second, "the cycle asked for as "+reason+" to finish", func() (bool, string) {
		var seen []string
		asked := false
		for _, line := range r.log.Lines() {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			switch e["event"] {
			case "sync.start":
				seen = append(seen, fmt.Sprint(e["reason"]))
				asked = asked || e["reason"] == reason
			case "sync.done":
				if asked {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("cycles started for %v", seen)
	})
	return r.cycles()
}

func lastEvent(r *runningAgent, name string) map[string]any {
	evs := r.log.Events(name)
	return evs[len(evs)-1]
}

func planned(ev map[string]any) float64 {
	counts, _ := ev["counts"].(map[string]any)
	n, _ := counts["planned"].(float64)
	return n
}

func TestWatch_HandEditStartsACycleThatPlansOnlyThatJob(t *testing.T) {
	n := newFakeNomad()
	r := startWatchingAgent(t, n, repoOf("a", "b", "c"), Options{})
	// The start cycle created the jobs; one more finds them in sync.
	before := r.syncNow(t, "api")

	// A job neither in git nor drover's is none of the watch's business.
	// An absence: ten debounce periods without a cycle.
	n.handEdit("someone-elses")
	testutil.Throughout(t, 200*time.Millisecond, "no cycle for a foreign job's change", func() (bool, string) {
		got := r.cycles()
		return got == before, fmt.Sprintf("%d cycles", got-before)
	})

	n.handEdit("b")
	testutil.WaitFor(t, 10*time.Second, "a cycle after the hand edit", func() (bool, string) { return r.cycles() > before, r.describe() })
	if reason := lastEvent(r, "sync.start")["reason"]; reason != "cluster" {
		t.Errorf("cycle reason %v, want cluster", reason)
	}
	if got := planned(lastEvent(r, "sync.done")); got != 1 {
		t.Errorf("the cycle planned %v jobs, want only the edited one", got)
	}
}

// TestWatch_OwnRegistersDoNotLoop: a job that plans with a change even
// right after drover registered it would make every cycle register it
// again; the watch must not take those registers for hand edits.
func TestWatch_OwnRegistersDoNotLoop(t *testing.T) {
	n := newFakeNomad()
	n.drifting = map[string]bool{"flappy": true}
	r := startWatchingAgent(t, n, repoOf("flappy", "steady"), Options{})
	testutil.WaitFor(t, 10*time.Second, "first register", func() (bool, string) { _, reg := n.counts(); return reg > 0, r.describe() })
	// A cycle the test asks for comes after any the start cycle's
	// registers caused. Were they taken for hand edits, a cycle would be
	// pending whenever the test asked (so the one it asked for never
	// starts), or more than the two would have run, each registering
	// flappy again.
	cycles := r.syncNow(t, "api")
	if _, reg := n.counts(); cycles != 2 || reg > 3 {
		t.Errorf("drover's own registers triggered cycles: %s; want 2 cycles", r.describe())
	}
}

func TestWatch_BurstOfChangesIsOneCycle(t *testing.T) {
	n := newFakeNomad()
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "job" + string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	r := startWatchingAgent(t, n, repoOf(ids...), Options{WatchDebounce: 200 * time.Millisecond})
	before := r.syncNow(t, "settled")
	plansBefore, _ := n.counts()

	// A script editing job after job: the burst outlasts several
	// queries, each of which sees more changes.
	for _, id := range ids {
		n.handEdit(id)
		time.Sleep(time.Millisecond)
	}
	testutil.WaitFor(t, 10*time.Second, "every edited job planned", func() (bool, string) {
		p, _ := n.counts()
		return p >= plansBefore+100, r.describe()
	})
	// A cycle the test asks for comes after every cycle the burst caused
	// (a second one would be pending, or due while the first ran), and
	// plans nothing: the jobs are as the burst's cycle left them.
	after := r.syncNow(t, "after the burst") - 1
	if after != before+1 {
		t.Errorf("100 hand edits caused %d cycles, want 1 (%s)", after-before, r.describe())
	}
	if p, _ := n.counts(); p != plansBefore+100 {
		t.Errorf("planned %d jobs after the burst, want each edited job once", p-plansBefore)
	}
}

func TestWatch_BacksOffOnErrorsAndStopsWithTheAgent(t *testing.T) {
	n := newFakeNomad()
	n.watchErrs = []error{errors.New("503 no leader"), errors.New("503 no leader"), errors.New("connection refused")}
	var mu sync.Mutex
	var attempts []int
	r := startWatchingAgent(t, n, repoOf("a"), Options{WatchBackoff: func(n int) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, n)
		return time.Millisecond
	}})
	testutil.WaitFor(t, 10*time.Second, "the watch recovering", func() (bool, string) {
		n := len(r.log.Events("watch.recovered"))
		return n == 1, fmt.Sprintf("%d watch.recovered", n)
	})
	mu.Lock()
	got := slices.Clone(attempts)
	mu.Unlock()
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("backoff attempts %v, want 1, 2, 3", got)
	}
	if errs := r.log.Events("watch.error"); len(errs) != 3 || errs[0]["retry_in"] != "1ms" {
		t.Errorf("watch.error events %v", errs)
	}

	// The watch is blocked in a query; stopping the agent must end it.
	r.stop()
	n.mu.Lock()
	watches := n.watches
	n.mu.Unlock()
	testutil.Throughout(t, 100*time.Millisecond, "no watch query after Run returned", func() (bool, string) {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.watches == watches, fmt.Sprintf("%d more queries", n.watches-watches)
	})
}

func TestWatch_OffMeansOnlyTheIntervalSyncs(t *testing.T) {
	n := newFakeNomad()
	r := startAgentOver(t, n, repoOf("a"), Options{})
	before := r.syncNow(t, "api")
	n.handEdit("a")
	testutil.Throughout(t, 300*time.Millisecond, "no cycle for a hand edit without a watch", func() (bool, string) {
		got := r.cycles()
		return got == before, fmt.Sprintf("%d cycles", got-before)
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.watches != 0 {
		t.Errorf("%d watch queries with the watch off", n.watches)
	}
}

// TestWatch_StatusChurnOfRegisteredJobsIsNoChange: a job drover just
// registered moves pending → running, and its summary with every
// allocation; none of that can change its plan, so none of it schedules a
// cycle. A hand edit, a stop or the job dying does.
func TestWatch_StatusChurnOfRegisteredJobsIsNoChange(t *testing.T) {
	meta := map[string]string{jobs.MetaManaged: "true", jobs.MetaInstance: reconcile.DefaultInstance}
	stubOf := func(index uint64, status string, stop bool, running int) []*api.JobListStub {
		return []*api.JobListStub{{ID: "a", Namespace: "default", Status: status, Stop: stop, JobModifyIndex: index, Meta: meta,
			JobSummary: &api.JobSummary{Summary: map[string]api.TaskGroupSummary{"g": {Running: running}}}}}
	}
	for _, tt := range []struct {
		name   string
		list   []*api.JobListStub
		change bool
	}{
		{"registered, pending", stubOf(5, "pending", false, 0), false},
		{"running", stubOf(5, "running", false, 1), false},
		{"an allocation replaced", stubOf(5, "pending", false, 0), false},
		{"hand edit", stubOf(6, "running", false, 1), true},
		{"stopped", stubOf(5, "running", true, 1), true},
		{"dead", stubOf(5, "dead", false, 0), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newClusterWatch(nil, reconcile.DefaultInstance, func(string) {}, Options{WatchDebounce: time.Hour, Logger: zerolog.Nop()})
			defer w.stopTimer()
			now := time.Now()
			w.observe(nil, now) // the baseline: a cluster without the job
			w.cycleStarted()
			w.cycleDone(&reconcile.Report{Jobs: []*reconcile.JobResult{{Key: jobs.Key{Namespace: "default", ID: "a"},
				Class: reconcile.Create, Applied: &reconcile.Applied{ModifyIndex: 5}}}})
			w.observe(tt.list, now)
			w.mu.Lock()
			scheduled := w.timer != nil
			w.mu.Unlock()
			if scheduled != tt.change {
				t.Errorf("a check was scheduled: %v, want %v", scheduled, tt.change)
			}
		})
	}
}

// TestWatch_PurgedJobFromTheEventStreamIsAChange: a purge arrives as a job
// event with Deleted set; it drops the job, which is a change for a job
// drover owns, while a foreign job's event is none.
func TestWatch_PurgedJobFromTheEventStreamIsAChange(t *testing.T) {
	meta := map[string]string{jobs.MetaManaged: "true", jobs.MetaInstance: reconcile.DefaultInstance}
	jobEvent := func(id string, meta map[string]string, deleted bool) api.Event {
		return jobEventOf(id, 5, "running", false, meta, deleted)
	}
	for _, tt := range []struct {
		name   string
		event  api.Event
		change bool
	}{
		{"the same job again", jobEvent("a", meta, false), false},
		{"someone else's job", jobEvent("other", nil, false), false},
		{"purged", jobEvent("a", meta, true), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newClusterWatch(nil, reconcile.DefaultInstance, func(string) {}, Options{WatchDebounce: time.Hour, Logger: zerolog.Nop()})
			defer w.stopTimer()
			now := time.Now()
			w.observe([]*api.JobListStub{{ID: "a", Namespace: "default", Status: "running", JobModifyIndex: 5, Meta: meta}}, now)
			w.applyEvents([]api.Event{tt.event}, now)
			w.mu.Lock()
			scheduled := w.timer != nil
			w.mu.Unlock()
			if scheduled != tt.change {
				t.Errorf("a check was scheduled: %v, want %v", scheduled, tt.change)
			}
		})
	}
}

// jobEventOf is the job event Nomad streams for a write of job id in the
// default namespace (deleted: its purge), as the API client hands it over.
func jobEventOf(id string, index uint64, status string, stop bool, meta map[string]string, deleted bool) api.Event {
	return stubEvent(&api.JobListStub{ID: id, Namespace: "default", Status: status, Stop: stop, JobModifyIndex: index, Meta: meta}, deleted)
}

// stubEvent is the job event for a write of the job s lists, decoded the
// way the API client hands it over: through JSON into a map. A map of
// strings, numbers and booleans always marshals, hence the panics.
func stubEvent(s *api.JobListStub, deleted bool) api.Event {
	job := map[string]any{"ID": s.ID, "Namespace": s.Namespace, "Status": s.Status, "Stop": s.Stop, "JobModifyIndex": s.JobModifyIndex, "Meta": s.Meta}
	b, err := json.Marshal(map[string]any{"Job": job, "Deleted": deleted})
	if err != nil {
		panic(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(b, &payload); err != nil {
		panic(err)
	}
	return api.Event{Topic: api.TopicJob, Key: s.ID, Payload: payload}
}

// ownedStubs lists n running jobs this instance owns, all at modify index 5.
func ownedStubs(n int) []*api.JobListStub {
	meta := map[string]string{jobs.MetaManaged: "true", jobs.MetaInstance: reconcile.DefaultInstance}
	stubs := make([]*api.JobListStub, n)
	for i := range stubs {
		stubs[i] = &api.JobListStub{ID: fmt.Sprintf("j%05d", i), Namespace: "default", Status: "running", JobModifyIndex: 5, Meta: meta}
	}
	return stubs
}

// TestWatch_AnEventAmongManyJobsTouchesOnlyItsJob: during a deploy of
// 1000 jobs nearly every job has events; each must change only its own
// job's state and decide exactly as a comparison of every job would.
func TestWatch_AnEventAmongManyJobsTouchesOnlyItsJob(t *testing.T) {
	meta := map[string]string{jobs.MetaManaged: "true", jobs.MetaInstance: reconcile.DefaultInstance}
	const edited = "j00500"
	for _, tt := range []struct {
		name   string
		events []api.Event
		change bool
	}{
		{"pending again", []api.Event{jobEventOf(edited, 5, "pending", false, meta, false)}, false},
		{"pending then running", []api.Event{jobEventOf(edited, 5, "pending", false, meta, false),
			jobEventOf(edited, 5, "running", false, meta, false)}, false},
		{"someone else's new job", []api.Event{jobEventOf("other", 9, "running", false, nil, false)}, false},
		{"hand edit", []api.Event{jobEventOf(edited, 6, "running", false, meta, false)}, true},
		{"stopped", []api.Event{jobEventOf(edited, 5, "running", true, meta, false)}, true},
		{"dead", []api.Event{jobEventOf(edited, 5, "dead", false, meta, false)}, true},
		{"purged", []api.Event{jobEventOf(edited, 5, "running", false, meta, true)}, true},
		// Not in git (no cycle has run) and no longer drover's: none of its business.
		{"disowned by hand", []api.Event{jobEventOf(edited, 6, "running", false, nil, false)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newClusterWatch(nil, reconcile.DefaultInstance, func(string) {}, Options{WatchDebounce: time.Hour, Logger: zerolog.Nop()})
			defer w.stopTimer()
			now := time.Now()
			w.observe(ownedStubs(1000), now)
			w.applyEvents(tt.events, now)
			w.mu.Lock()
			defer w.mu.Unlock()
			if scheduled := w.timer != nil; scheduled != tt.change {
				t.Errorf("a check was scheduled: %v, want %v", scheduled, tt.change)
			}
			for k, s := range w.latest {
				if k.ID != edited && k.ID != "other" && s != (jobState{index: 5, owned: true}) {
					t.Errorf("job %s is %+v after an event for %s", k.ID, s, edited)
				}
			}
		})
	}
}

// BenchmarkClusterWatch_ApplyEvents is the cost of one batch of one job
// event among n jobs drover owns, as during a deploy: a job moving
// between pending and running (no change), and a job registered again
// and again (a change each time, pushing the debounce back).
func BenchmarkClusterWatch_ApplyEvents(b *testing.B) {
	meta := map[string]string{jobs.MetaManaged: "true", jobs.MetaInstance: reconcile.DefaultInstance}
	for _, n := range []int{1000, 10000} {
		id := fmt.Sprintf("j%05d", n/2)
		for _, tt := range []struct {
			name    string
			batches [][]api.Event
		}{
			{"status", [][]api.Event{{jobEventOf(id, 5, "pending", false, meta, false)}, {jobEventOf(id, 5, "running", false, meta, false)}}},
			{"register", [][]api.Event{{jobEventOf(id, 6, "pending", false, meta, false)}, {jobEventOf(id, 7, "pending", false, meta, false)}}},
		} {
			b.Run(fmt.Sprintf("jobs=%d/%s", n, tt.name), func(b *testing.B) {
				w := newClusterWatch(nil, reconcile.DefaultInstance, func(string) {}, Options{WatchDebounce: time.Hour, Logger: zerolog.Nop()})
				defer w.stopTimer()
				now := time.Now()
				w.observe(ownedStubs(n), now)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					w.applyEvents(tt.batches[i%2], now)
				}
			})
		}
	}
}

// TestWatch_PendingIsWhatAFullComparisonFinds: the watch keeps the jobs
// that differ from what was reconciled one event at a time. After any
// sequence of lists, events, cycles and checks they must be exactly what
// comparing every job finds, and a batch must count as still changing
// exactly when it moved a relevant job.
func TestWatch_PendingIsWhatAFullComparisonFinds(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 2026))
	keys := make([]jobs.Key, 12)
	for i := range keys {
		keys[i] = jobs.Key{Namespace: "default", ID: fmt.Sprintf("j%d", i)}
	}
	state := func() jobState {
		return jobState{index: 5 + rng.Uint64N(2), stop: rng.IntN(4) == 0, dead: rng.IntN(4) == 0, owned: rng.IntN(2) == 0}
	}
	list := func() []*api.JobListStub {
		var stubs []*api.JobListStub
		for _, k := range keys {
			if rng.IntN(4) == 0 {
				continue
			}
			s := state()
			var meta map[string]string
			if s.owned {
				meta = map[string]string{jobs.MetaManaged: "true", jobs.MetaInstance: reconcile.DefaultInstance}
			}
			status := "running"
			if s.dead {
				status = "dead"
			}
			stubs = append(stubs, &api.JobListStub{ID: k.ID, Namespace: k.Namespace, Status: status, Stop: s.stop, JobModifyIndex: s.index, Meta: meta})
		}
		return stubs
	}
	// want is pending worked out from scratch, the way differs compares.
	want := func(w *clusterWatch) map[jobs.Key]bool {
		out := map[jobs.Key]bool{}
		for k, s := range w.latest {
			if (s.owned || w.wanted[k]) && w.seen[k] != s {
				out[k] = true
			}
		}
		for k, b := range w.seen {
			if _, ok := w.latest[k]; !ok && (b.owned || w.wanted[k]) {
				out[k] = true
			}
		}
		return out
	}

	w := newClusterWatch(nil, reconcile.DefaultInstance, func(string) {}, Options{WatchDebounce: time.Hour, Logger: zerolog.Nop()})
	defer w.stopTimer()
	now := time.Now()
	w.observe(list(), now)
	counts := map[string]int{}
	for step := range 5000 {
		var op string
		switch n := rng.IntN(20); {
		case n == 0:
			op = "list"
			w.observe(list(), now)
		case n == 1:
			op = "cycle"
			report := &reconcile.Report{}
			for _, k := range keys {
				if rng.IntN(2) == 0 {
					continue
				}
				r := &reconcile.JobResult{Key: k}
				if rng.IntN(2) == 0 {
					r.Applied = &reconcile.Applied{ModifyIndex: 5 + rng.Uint64N(3)}
				}
				report.Jobs = append(report.Jobs, r)
			}
			w.cycleStarted()
			w.cycleDone(report)
		case n == 2:
			op = "check"
			w.mu.Lock()
			w.check()
			w.mu.Unlock()
		default:
			op = "events"
			batch := make([]jobWrite, 1+rng.IntN(3))
			for i := range batch {
				batch[i] = jobWrite{key: keys[rng.IntN(len(keys))], state: state(), deleted: rng.IntN(5) == 0}
			}
			w.mu.Lock()
			previous := maps.Clone(w.latest)
			changed := w.write(batch)
			full := w.differs(w.latest, previous)
			w.mu.Unlock()
			if changed != full {
				t.Fatalf("step %d: batch %+v counted as a change: %v, comparing every job: %v", step, batch, changed, full)
			}
			if changed {
				counts["changing batch"]++
			}
		}
		counts[op]++
		w.mu.Lock()
		got, full := maps.Clone(w.pending), want(w)
		w.mu.Unlock()
		if !maps.Equal(got, full) {
			t.Fatalf("step %d (%s): pending %v, comparing every job %v", step, op, got, full)
		}
		if len(got) > 0 {
			counts["pending"]++
		}
	}
	// The walk must have reached both answers of each question.
	if counts["pending"] == 0 || counts["pending"] == 5000 || counts["changing batch"] == 0 || counts["changing batch"] == counts["events"] {
		t.Errorf("the random walk missed a case: %v", counts)
	}
}

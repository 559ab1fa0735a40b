package reconcile

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// quietCluster has n jobs drover applied at commit c1, all in sync.
func quietCluster(t *testing.T, ids ...string) (*fakeCluster, *jobs.Set) {
	t.Helper()
	c := &fakeCluster{}
	set := &jobs.Set{Revision: "c1"}
	for i, id := range ids {
		f := jobFile(t, id, id+":1")
		set.Files = append(set.Files, f)
		c.stubs = append(c.stubs, stub(id, uint64(10+i), owned(f.Path, "c1", f.Fingerprint)))
	}
	return c, set
}

// syncTwice runs one cycle to fill the memo, lets change alter the cluster
// or the set, runs a second cycle, and returns the jobs it planned.
func syncTwice(t *testing.T, e *Engine, c *fakeCluster, set *jobs.Set, change func()) ([]string, *Report) {
	t.Helper()
	if _, err := e.Sync(context.Background(), set); err != nil {
		t.Fatalf("first Sync: %v", err)
	}
	c.mu.Lock()
	c.planned = nil
	c.mu.Unlock()
	if change != nil {
		change()
	}
	report, err := e.Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	planned := c.plannedIDs()
	slices.Sort(planned)
	return planned, report
}

func TestPlanMemo_QuietCycleMakesNoPlanCalls(t *testing.T) {
	c, set := quietCluster(t, "a", "b", "c")
	planned, report := syncTwice(t, newEngine(c, Options{Apply: true}), c, set, nil)
	if len(planned) != 0 {
		t.Errorf("quiet cycle planned %q, want none", planned)
	}
	if got, want := report.Counts(), (Counts{InSync: 3}); got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
	for _, r := range report.Jobs {
		if r.Class != InSync || r.Planned || r.Commit != "c1" || r.AppliedCommit != "c1" {
			t.Errorf("%s: class %s planned %v commit %q applied %q", r.ID, r.Class, r.Planned, r.Commit, r.AppliedCommit)
		}
	}
	if n := len(c.registrations()); n != 0 {
		t.Errorf("registered %d jobs in a quiet cycle", n)
	}
}

func TestPlanMemo_PlanAlwaysPlansEveryJob(t *testing.T) {
	c, set := quietCluster(t, "a", "b")
	planned, report := syncTwice(t, newEngine(c, Options{PlanAlways: true}), c, set, nil)
	if !slices.Equal(planned, []string{"a", "b"}) || report.Counts().Planned != 2 {
		t.Errorf("planned %q (count %d), want both jobs", planned, report.Counts().Planned)
	}
}

// TestPlanMemo_ChangeReplansExactlyThatJob: any change to a job's cluster
// copy or to its spec in git re-plans that job and no other.
func TestPlanMemo_ChangeReplansExactlyThatJob(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(c *fakeCluster, set *jobs.Set)
	}{
		{"hand edit bumps the modify index", func(c *fakeCluster, set *jobs.Set) { c.stubs[1].JobModifyIndex++ }},
		{"job stopped", func(c *fakeCluster, set *jobs.Set) { c.stubs[1].Stop = true }},
		{"job died", func(c *fakeCluster, set *jobs.Set) { c.stubs[1].Status = "dead" }},
		{"job purged", func(c *fakeCluster, set *jobs.Set) { c.stubs = slices.Delete(c.stubs, 1, 2) }},
		{"git changed the spec", func(c *fakeCluster, set *jobs.Set) { set.Files[1] = jobFile(t, "b", "b:2") }},
		{"file moved", func(c *fakeCluster, set *jobs.Set) {
			f := *set.Files[1]
			f.Path = "moved/b.nomad"
			set.Files[1] = &f
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, set := quietCluster(t, "a", "b", "c")
			planned, report := syncTwice(t, newEngine(c, Options{}), c, set, func() { tt.change(c, set) })
			if !slices.Equal(planned, []string{"b"}) {
				t.Errorf("planned %q, want only b", planned)
			}
			if got := report.Counts().Planned; got != 1 {
				t.Errorf("Counts().Planned = %d, want 1", got)
			}
		})
	}
}

func TestPlanMemo_JobNotInSyncIsAlwaysPlanned(t *testing.T) {
	c, set := quietCluster(t, "insync", "drift", "broken")
	c.plans = map[string]*api.JobPlanResponse{"drift": changedPlan("drift", 11)}
	c.planErr = map[string]error{"broken": unexpectedResponse(t, http.StatusBadRequest, "boom")}
	// Dry run, so the drift stays: it must be planned and reported every
	// cycle, as must a job whose plan failed once its retry is due.
	e := newEngine(c, Options{PlanRetry: func(int) time.Duration { return 0 }})
	for cycle := 1; cycle <= 3; cycle++ {
		c.mu.Lock()
		c.planned = nil
		c.mu.Unlock()
		report, err := e.Sync(context.Background(), set)
		if err != nil {
			t.Fatal(err)
		}
		planned := c.plannedIDs()
		slices.Sort(planned)
		want := []string{"broken", "drift", "insync"}
		if cycle > 1 {
			want = []string{"broken", "drift"}
		}
		if !slices.Equal(planned, want) {
			t.Errorf("cycle %d planned %q, want %q", cycle, planned, want)
		}
		if got := resultsByID(report)["drift"]; got.Class != Drift || len(got.Changes) == 0 {
			t.Errorf("cycle %d: drift reported as %s %q", cycle, got.Class, got.Changes)
		}
	}
}

// TestPlanMemo_PlanWithSchedulerWorkIsNotMemoized: an in-sync spec whose
// plan would still place allocations (one failed) or cannot place them
// says something the job list does not; it is planned again.
func TestPlanMemo_PlanWithSchedulerWorkIsNotMemoized(t *testing.T) {
	for name, plan := range map[string]*api.JobPlanResponse{
		"place": {JobModifyIndex: 10, Diff: &api.JobDiff{Type: "None"}, Annotations: &api.PlanAnnotations{
			DesiredTGUpdates: map[string]*api.DesiredUpdates{"g": {Place: 1}}}},
		"placement failure": {JobModifyIndex: 10, Diff: &api.JobDiff{Type: "None"},
			FailedTGAllocs: map[string]*api.AllocationMetric{"g": {NodesEvaluated: 1}}},
	} {
		t.Run(name, func(t *testing.T) {
			c, set := quietCluster(t, "a")
			c.plans = map[string]*api.JobPlanResponse{"a": plan}
			planned, report := syncTwice(t, newEngine(c, Options{}), c, set, nil)
			if !slices.Equal(planned, []string{"a"}) {
				t.Errorf("planned %q, want a again", planned)
			}
			if r := report.Jobs[0]; r.Class != InSync {
				t.Errorf("class %s, want in_sync", r.Class)
			}
		})
	}
}

func TestPlanMemo_ForgetsJobsGitDropped(t *testing.T) {
	c, set := quietCluster(t, "a", "b")
	e := newEngine(c, Options{})
	if _, err := e.Sync(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	if n := len(e.memo.entries); n != 2 {
		t.Fatalf("memo holds %d entries after the first cycle, want 2", n)
	}
	set.Files = set.Files[:1]
	if _, err := e.Sync(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.memo.entries[jobs.Key{Namespace: "default", ID: "b"}]; ok || len(e.memo.entries) != 1 {
		t.Errorf("memo entries after b left git: %v", e.memo.entries)
	}
}

// registerLikeNomad makes the fake's job list show every job registered so
// far as Nomad would: at the modify index the register returned, with the
// meta drover stamped, in status.
func registerLikeNomad(c *fakeCluster, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, call := range c.registered {
		index := call.opts.ModifyIndex + 100 // what the fake's Register returns
		s := stub(*call.job.ID, index, call.job.Meta)
		s.Status = status
		c.stubs = slices.DeleteFunc(c.stubs, func(o *api.JobListStub) bool { return o.ID == s.ID })
		c.stubs = append(c.stubs, s)
	}
	c.registered = nil
	c.planned = nil
}

// TestPlanMemo_RegisteredJobIsNotPlannedAgainAsItStarts: a job drover just
// registered is known in sync at the register's modify index; its status
// moving pending → running (or back, while an allocation is replaced) is
// the scheduler at work, not a reason to plan it again. A change that can
// alter the plan still re-plans it.
func TestPlanMemo_RegisteredJobIsNotPlannedAgainAsItStarts(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(c *fakeCluster, set *jobs.Set)
		replan bool
	}{
		{"still pending", func(c *fakeCluster, set *jobs.Set) {}, false},
		{"pending → running", func(c *fakeCluster, set *jobs.Set) { c.stubs[0].Status = "running" }, false},
		{"summary moves", func(c *fakeCluster, set *jobs.Set) {
			c.stubs[0].Status = "running"
			c.stubs[0].JobSummary = &api.JobSummary{Summary: map[string]api.TaskGroupSummary{"g": {Running: 1}}}
		}, false},
		{"hand edit", func(c *fakeCluster, set *jobs.Set) { c.stubs[0].JobModifyIndex++ }, true},
		{"stopped", func(c *fakeCluster, set *jobs.Set) { c.stubs[0].Stop = true }, true},
		{"dead", func(c *fakeCluster, set *jobs.Set) { c.stubs[0].Status = "dead" }, true},
		{"new commit of the spec", func(c *fakeCluster, set *jobs.Set) {
			set.Revision, set.Files[0] = "c2", jobFile(t, "a", "a:2")
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeCluster{}
			set := &jobs.Set{Revision: "c1", Files: []*jobs.File{jobFile(t, "a", "a:1")}}
			e := newEngine(c, Options{Apply: true})
			report, err := e.Sync(context.Background(), set)
			if err != nil {
				t.Fatal(err)
			}
			if r := report.Jobs[0]; r.Class != Create || r.Applied == nil {
				t.Fatalf("first cycle: class %s applied %v, want a create that registered", r.Class, r.Applied)
			}
			registerLikeNomad(c, "pending")
			tt.change(c, set)
			report, err = e.Sync(context.Background(), set)
			if err != nil {
				t.Fatal(err)
			}
			planned := c.plannedIDs()
			if tt.replan != (len(planned) == 1) || len(planned) > 1 {
				t.Errorf("second cycle planned %q, want a re-plan: %v", planned, tt.replan)
			}
			if !tt.replan {
				if r := report.Jobs[0]; r.Class != InSync || r.Planned || r.Commit != "c1" {
					t.Errorf("second cycle: class %s planned %v commit %q, want in_sync from the memo at c1", r.Class, r.Planned, r.Commit)
				}
				if n := len(c.registrations()); n != 0 {
					t.Errorf("registered %d times in the second cycle", n)
				}
			}
		})
	}
}

// TestPlanMemo_RegisterWithPlacementFailureIsPlannedAgain: a job the
// scheduler could not place is followed by plans, as an in-sync one is.
func TestPlanMemo_RegisterWithPlacementFailureIsPlannedAgain(t *testing.T) {
	c := &fakeCluster{plans: map[string]*api.JobPlanResponse{"a": {Diff: &api.JobDiff{Type: "Added", ID: "a"},
		FailedTGAllocs: map[string]*api.AllocationMetric{"g": {NodesEvaluated: 1}}}}}
	set := &jobs.Set{Revision: "c1", Files: []*jobs.File{jobFile(t, "a", "a:1")}}
	e := newEngine(c, Options{Apply: true})
	if _, err := e.Sync(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	registerLikeNomad(c, "pending")
	c.plans = nil
	if _, err := e.Sync(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	if planned := c.plannedIDs(); !slices.Equal(planned, []string{"a"}) {
		t.Errorf("planned %q, want a again", planned)
	}
}

// TestPlanMemo_RefusedPlanBacksOff: a plan Nomad refused (a 4xx) for the
// same spec and cluster copy is not made again every cycle: the job is
// reported failed with the same error until its retry is due, and planned
// at once when git or the cluster's copy changes. A plan Nomad did not
// answer is not remembered.
func TestPlanMemo_RefusedPlanBacksOff(t *testing.T) {
	refused := unexpectedResponse(t, http.StatusBadRequest, "group g: invalid count")
	for _, tt := range []struct {
		name string
		// advance moves the clock; change alters git or the cluster.
		advance time.Duration
		change  func(c *fakeCluster, set *jobs.Set)
		replan  bool
	}{
		{"same inputs, retry not due", time.Minute, nil, false},
		{"retry due", 2 * time.Minute, nil, true},
		{"git changed the spec", 0, func(c *fakeCluster, set *jobs.Set) { set.Files[1] = jobFile(t, "b", "b:2") }, true},
		{"new commit moved the file", 0, func(c *fakeCluster, set *jobs.Set) {
			f := *set.Files[1]
			f.Path = "moved/b.nomad"
			set.Files[1] = &f
		}, true},
		{"cluster copy changed", 0, func(c *fakeCluster, set *jobs.Set) { c.stubs[1].JobModifyIndex++ }, true},
		{"cluster copy stopped", 0, func(c *fakeCluster, set *jobs.Set) { c.stubs[1].Stop = true }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, set := quietCluster(t, "a", "b")
			c.planErr = map[string]error{"b": refused}
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			e := newEngine(c, Options{Apply: true, PlanRetry: func(n int) time.Duration { return time.Duration(n) * 90 * time.Second }})
			e.now = func() time.Time { return now }
			planned, report := syncTwice(t, e, c, set, func() {
				now = now.Add(tt.advance)
				if tt.change != nil {
					tt.change(c, set)
				}
			})
			if got := slices.Contains(planned, "b"); got != tt.replan || slices.Contains(planned, "a") {
				t.Errorf("second cycle planned %q, want b planned: %v", planned, tt.replan)
			}
			r := resultsByID(report)["b"]
			var ue api.UnexpectedResponseError
			if r.Class != Failed || !errors.As(r.Err, &ue) || ue.StatusCode() != http.StatusBadRequest || r.Planned != tt.replan {
				t.Errorf("b: class %s planned %v err %v, want failed with the refusal", r.Class, r.Planned, r.Err)
			}
		})
	}
}

// TestPlanMemo_RefusalBackoffGrows: each refusal of the same inputs waits
// longer before the next plan.
func TestPlanMemo_RefusalBackoffGrows(t *testing.T) {
	c, set := quietCluster(t, "b")
	c.planErr = map[string]error{"b": unexpectedResponse(t, http.StatusBadRequest, "invalid")}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var attempts []int
	e := newEngine(c, Options{PlanRetry: func(n int) time.Duration {
		attempts = append(attempts, n)
		return time.Duration(n) * time.Minute
	}})
	e.now = func() time.Time { return now }
	for _, step := range []time.Duration{0, time.Minute, time.Minute, time.Minute, time.Minute} {
		now = now.Add(step)
		if _, err := e.Sync(context.Background(), set); err != nil {
			t.Fatal(err)
		}
	}
	// Planned at 0 (wait 1m), at 1m (wait 2m), at 3m (wait 3m); not at 2m or 4m.
	if want := []int{1, 2, 3}; !slices.Equal(attempts, want) {
		t.Errorf("refusals counted %v, want %v", attempts, want)
	}
	if n := len(c.plannedIDs()); n != 3 {
		t.Errorf("planned %d times over five cycles, want 3", n)
	}
}

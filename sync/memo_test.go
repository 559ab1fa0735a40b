package sync

import (
	"context"
	"net/http"
	"slices"
	"testing"

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
	// cycle, as must a job whose plan failed.
	e := newEngine(c, Options{})
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

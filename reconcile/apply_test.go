package reconcile

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

func TestVersionAfter(t *testing.T) {
	written := &api.JobRegisterResponse{EvalID: "e", JobModifyIndex: 200, EvalCreateIndex: 200}
	tests := []struct {
		name    string
		sent    *uint64
		index   uint64
		old     uint64
		known   bool
		resp    *api.JobRegisterResponse
		version uint64
		at      uint64
		ok      bool
	}{
		{name: "new job", index: 0, resp: written, version: 0, at: 200, ok: true},
		{name: "new job sent with a version", sent: ptr(uint64(3)), index: 0, resp: written, version: 3, at: 200, ok: true},
		{name: "changed spec", index: 100, old: 4, known: true, resp: written, version: 5, at: 200, ok: true},
		{name: "changed spec, higher version sent", sent: ptr(uint64(9)), index: 100, old: 4, known: true, resp: written, version: 9, at: 200, ok: true},
		{name: "unchanged spec: no write, the eval after the job's index", index: 100, old: 4, known: true,
			resp: &api.JobRegisterResponse{EvalID: "e", JobModifyIndex: 150, EvalCreateIndex: 201}, version: 4, at: 100, ok: true},
		{name: "old version unknown", index: 100, resp: written},
		{name: "no evaluation (periodic): written or not cannot be told", index: 100, old: 4, known: true,
			resp: &api.JobRegisterResponse{JobModifyIndex: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, at, ok := versionAfter(&api.Job{Version: tt.sent}, tt.index, tt.old, tt.known, tt.resp)
			if v != tt.version || at != tt.at || ok != tt.ok {
				t.Errorf("versionAfter = %d at %d, %v; want %d at %d, %v", v, at, ok, tt.version, tt.at, tt.ok)
			}
		})
	}
}

// TestSync_RegisterKnowsVersionsWithoutReadBack follows one job through
// drover's own registers: created at 0, updated to 1, registered again
// with a spec Nomad already had (still 1), never read back.
func TestSync_RegisterKnowsVersionsWithoutReadBack(t *testing.T) {
	c := &fakeCluster{plans: map[string]*api.JobPlanResponse{
		"web": {JobModifyIndex: 0, Diff: &api.JobDiff{Type: "Added", ID: "web"}},
	}}
	e := newEngine(c, Options{Apply: true})
	sync := func(revision string, f *jobs.File) *Applied {
		t.Helper()
		report, err := e.Sync(context.Background(), &jobs.Set{Revision: revision, Files: []*jobs.File{f}})
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		r := resultsByID(report)["web"]
		if r == nil || r.Err != nil || r.Applied == nil {
			t.Fatalf("web: %+v, want applied", r)
		}
		return r.Applied
	}

	if a := sync("c1", jobFile(t, "web", "app:1")); a.Version != 0 || a.ModifyIndex != 100 {
		t.Errorf("create: version %d at %d, want 0 at 100", a.Version, a.ModifyIndex)
	}

	v2 := jobFile(t, "web", "app:2")
	c.stubs = []*api.JobListStub{stub("web", 100, owned("web.nomad", "c1", "fp-of-app:1"))}
	c.plans["web"] = changedPlan("web", 100)
	if a := sync("c2", v2); a.Version != 1 || a.ModifyIndex != 200 {
		t.Errorf("update: version %d at %d, want 1 at 200", a.Version, a.ModifyIndex)
	}

	// A register Nomad answers without a write (the spec it already has)
	// keeps the version.
	c.stubs = []*api.JobListStub{stub("web", 200, owned("web.nomad", "c2", "fp-of-app:0"))}
	c.plans["web"] = changedPlan("web", 200)
	c.unchanged = map[string]bool{"web": true}
	if a := sync("c3", v2); a.Version != 1 {
		t.Errorf("register of a spec Nomad had: version %d, want 1 (kept)", a.Version)
	}
	if got := c.readIDs(); len(got) != 0 {
		t.Errorf("read back %v, want no read: every version was known", got)
	}
}

// TestSync_RegisterReadsBackAJobWrittenByOthers: a version drover did not
// leave (someone registered the job since, or it never registered it) is
// read back once, and the read's answer is known from then on.
func TestSync_RegisterReadsBackAJobWrittenByOthers(t *testing.T) {
	c := &fakeCluster{
		stubs: []*api.JobListStub{stub("web", 42, owned("web.nomad", "c0", "fp-of-app:0"))},
		plans: map[string]*api.JobPlanResponse{"web": changedPlan("web", 42)},
	}
	e := newEngine(c, Options{Apply: true})
	report, err := e.Sync(context.Background(), &jobs.Set{Revision: "c1", Files: []*jobs.File{jobFile(t, "web", "app:1")}})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if a := resultsByID(report)["web"].Applied; a == nil || a.Version != 7 || a.Job == nil {
		t.Fatalf("Applied %+v, want version 7 read back", a)
	}
	if got := c.readIDs(); !slices.Equal(got, []string{"web"}) {
		t.Errorf("read back %v, want web once", got)
	}

	// The read said 7 at 142; the next register from there needs no read.
	c.stubs = []*api.JobListStub{stub("web", 142, owned("web.nomad", "c1", "fp-of-app:1"))}
	c.plans["web"] = changedPlan("web", 142)
	report, err = e.Sync(context.Background(), &jobs.Set{Revision: "c2", Files: []*jobs.File{jobFile(t, "web", "app:2")}})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if a := resultsByID(report)["web"].Applied; a == nil || a.Version != 8 {
		t.Errorf("Applied %+v, want version 8", a)
	}
	if got := c.readIDs(); len(got) != 1 {
		t.Errorf("read back %v, want no second read", got)
	}
}

// TestSync_RegisterWhoseReadBackFails: the register happened; a failed read
// only leaves the version unknown (and no job for a rollout to watch).
func TestSync_RegisterWhoseReadBackFails(t *testing.T) {
	c := &fakeCluster{
		stubs:   []*api.JobListStub{stub("web", 42, owned("web.nomad", "c0", "fp-of-app:0"))},
		plans:   map[string]*api.JobPlanResponse{"web": changedPlan("web", 42)},
		readErr: map[string]error{"web": errors.New("connection reset")},
	}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), &jobs.Set{Revision: "c1", Files: []*jobs.File{jobFile(t, "web", "app:1")}})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	r := resultsByID(report)["web"]
	if r.Err != nil || r.State() != "applied" {
		t.Errorf("err %v state %s, want applied without error", r.Err, r.State())
	}
	if r.Applied == nil || r.Applied.Job != nil || r.Applied.Version != 0 || r.Applied.ModifyIndex != 142 {
		t.Errorf("Applied %+v, want the register's index, no version, no job", r.Applied)
	}
}

// TestSync_RegisterNewUnplanned: the agent's engine registers a new job
// without planning it, plans it once the next cycle (only a plan says what
// could not be placed), and then leaves it to the memo; held jobs and
// existing ones are planned first as always.
func TestSync_RegisterNewUnplanned(t *testing.T) {
	held := jobFile(t, "held", "app:1")
	held.Hold = "quarantined"
	c := &fakeCluster{
		stubs: []*api.JobListStub{stub("old", 42, owned("old.nomad", "c0", "fp-of-app:0"))},
		plans: map[string]*api.JobPlanResponse{
			"old":  changedPlan("old", 42),
			"held": {Diff: &api.JobDiff{Type: "Added", ID: "held"}},
		},
	}
	e := newEngine(c, Options{Apply: true, RegisterNewUnplanned: true})
	set := &jobs.Set{Revision: "c1", Files: []*jobs.File{jobFile(t, "web", "app:1"), jobFile(t, "old", "app:1"), held}}
	report, err := e.Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := c.plannedIDs(); slices.Contains(got, "web") || len(got) != 2 {
		t.Errorf("planned %v, want old and held, not the new web", got)
	}
	web := resultsByID(report)["web"]
	if web.Class != Create || web.Planned || web.Applied == nil || web.Applied.Version != 0 {
		t.Errorf("web: class %s planned %v applied %+v, want an unplanned create at version 0", web.Class, web.Planned, web.Applied)
	}
	if got := resultsByID(report)["held"]; got.Applied != nil || !got.Planned {
		t.Errorf("held: planned %v applied %+v, want planned, not registered", got.Planned, got.Applied)
	}

	// Next cycle: web exists at the register's index; it is planned once,
	// found in sync with its allocation still to place (the register's
	// evaluation at work), and not planned again after that.
	c.stubs = append(c.stubs, stub("web", 100, owned("web.nomad", "c1", set.Files[0].Fingerprint)))
	c.plans["web"] = &api.JobPlanResponse{JobModifyIndex: 100, Diff: &api.JobDiff{Type: "None", ID: "web"},
		Annotations: &api.PlanAnnotations{DesiredTGUpdates: map[string]*api.DesiredUpdates{"g": {Place: 1}}}}
	for cycle := 2; cycle <= 3; cycle++ {
		before := len(c.plannedIDs())
		report, err := e.Sync(context.Background(), &jobs.Set{Revision: "c1", Files: set.Files[:1]})
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		planned := slices.Contains(c.plannedIDs()[before:], "web")
		if want := cycle == 2; planned != want {
			t.Errorf("cycle %d: web planned %v, want %v", cycle, planned, want)
		}
		if r := resultsByID(report)["web"]; r.Class != InSync {
			t.Errorf("cycle %d: web %s, want in sync", cycle, r.Class)
		}
	}
}

// TestSync_RegisterNewUnplannedThatCannotBePlaced: the plan after an
// unplanned register reports what could not be placed, and keeps being
// made while that lasts, as for any job.
func TestSync_RegisterNewUnplannedThatCannotBePlaced(t *testing.T) {
	c := &fakeCluster{plans: map[string]*api.JobPlanResponse{}}
	e := newEngine(c, Options{Apply: true, RegisterNewUnplanned: true})
	f := jobFile(t, "web", "app:1")
	if _, err := e.Sync(context.Background(), &jobs.Set{Revision: "c1", Files: []*jobs.File{f}}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	c.stubs = []*api.JobListStub{stub("web", 100, owned("web.nomad", "c1", f.Fingerprint))}
	c.plans["web"] = &api.JobPlanResponse{JobModifyIndex: 100, Diff: &api.JobDiff{Type: "None", ID: "web"},
		FailedTGAllocs: map[string]*api.AllocationMetric{"g": {NodesEvaluated: 1, NodesExhausted: 1}}}
	for cycle := 2; cycle <= 3; cycle++ {
		report, err := e.Sync(context.Background(), &jobs.Set{Revision: "c1", Files: []*jobs.File{f}})
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		r := resultsByID(report)["web"]
		if !r.Planned || len(r.PlacementFailures) != 1 {
			t.Errorf("cycle %d: planned %v, placement failures %v; want planned, g not placed", cycle, r.Planned, r.PlacementFailures)
		}
	}
}

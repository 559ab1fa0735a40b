package reconcile

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// mixedCluster is one job of every class:
//
//	create: not in the cluster
//	update: drover applied an older spec, the plan finds changes
//	drift:  drover applied this spec, the plan finds changes
//	insync: drover applied this spec, the plan finds nothing
func mixedCluster(t *testing.T) (*fakeCluster, *jobs.Set) {
	t.Helper()
	create := jobFile(t, "create", "a:1")
	update := jobFile(t, "update", "b:2")
	drift := jobFile(t, "drift", "c:1")
	insync := jobFile(t, "insync", "d:1")
	c := &fakeCluster{
		stubs: []*api.JobListStub{
			stub("update", 42, owned("update.nomad", "c1", "fp-of-b:1")),
			stub("drift", 17, owned("drift.nomad", "c1", drift.Fingerprint)),
			stub("insync", 9, owned("insync.nomad", "c1", insync.Fingerprint)),
		},
		plans: map[string]*api.JobPlanResponse{
			"create": {JobModifyIndex: 0, Diff: &api.JobDiff{Type: "Added", ID: "create"}},
			"update": changedPlan("update", 42),
			"drift":  changedPlan("drift", 17),
		},
	}
	return c, &jobs.Set{Revision: "c2", Files: []*jobs.File{create, drift, insync, update}}
}

func TestSync_DryRunNeverRegisters(t *testing.T) {
	c, set := mixedCluster(t)
	report, err := newEngine(c, Options{}).Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if n := len(c.registrations()); n != 0 {
		t.Errorf("dry run registered %d jobs", n)
	}
	if len(c.plannedIDs()) != 4 {
		t.Errorf("planned %q, want all 4 jobs", c.plannedIDs())
	}
	want := map[string]Class{"create": Create, "update": Update, "drift": Drift, "insync": InSync}
	for id, r := range resultsByID(report) {
		if r.Class != want[id] {
			t.Errorf("%s: class %s, want %s", id, r.Class, want[id])
		}
		if r.Applied != nil || r.Err != nil {
			t.Errorf("%s: applied %v, err %v in a dry run", id, r.Applied, r.Err)
		}
	}
	if got := (Counts{InSync: 1, Create: 1, Update: 1, Drift: 1, Planned: 4}); report.Counts() != got {
		t.Errorf("Counts = %+v, want %+v", report.Counts(), got)
	}
	if !report.Pending() {
		t.Error("Pending() = false with three jobs out of sync")
	}
}

func TestSync_AppliesOutOfSyncJobsWithCheckIndex(t *testing.T) {
	c, set := mixedCluster(t)
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	files := map[string]*jobs.File{}
	for _, f := range set.Files {
		files[*f.Job.ID] = f
	}
	regs := c.registrations()
	if _, ok := regs["insync"]; ok {
		t.Error("an in-sync job was registered")
	}
	for id, index := range map[string]uint64{"create": 0, "update": 42, "drift": 17} {
		calls := regs[id]
		if len(calls) != 1 {
			t.Errorf("%s: %d register calls, want 1", id, len(calls))
			continue
		}
		opts := calls[0].opts
		if !opts.EnforceIndex || opts.ModifyIndex != index {
			t.Errorf("%s: EnforceIndex %v at %d, want true at the plan's %d", id, opts.EnforceIndex, opts.ModifyIndex, index)
		}
		if opts.Submission != files[id].Submission {
			t.Errorf("%s: Submission %+v, want the file's", id, opts.Submission)
		}
		meta := calls[0].job.Meta
		if meta[jobs.MetaManaged] != "true" || meta[jobs.MetaInstance] != DefaultInstance ||
			meta[jobs.MetaPath] != id+".nomad" || meta[jobs.MetaFingerprint] != files[id].Fingerprint {
			t.Errorf("%s: registered meta %v lacks ownership", id, meta)
		}
		if files[id].Job.Meta != nil {
			t.Errorf("%s: the loaded job was stamped in place: %v", id, files[id].Job.Meta)
		}
		r := resultsByID(report)[id]
		// A new job is at version 0; the others had a version drover
		// never saw, so they are read back (the fake says 7).
		want := Applied{EvalID: "eval-" + id, Version: 7, ModifyIndex: index + 100}
		if id == "create" {
			want.Version = 0
		}
		if r.Applied == nil || r.Applied.Job != calls[0].job {
			t.Fatalf("%s: Applied %+v lacks the job as registered", id, r.Applied)
		}
		got := *r.Applied
		got.Job = nil
		if got != want || r.State() != "applied" {
			t.Errorf("%s: Applied %+v state %s, want %+v applied", id, got, r.State(), want)
		}
	}
	if got := report.Counts(); got.Applied != 3 || got.Errors != 0 {
		t.Errorf("Counts = %+v, want 3 applied, no errors", got)
	}
	if got := c.readIDs(); slices.Contains(got, "create") || len(got) != 2 {
		t.Errorf("read back %v, want update and drift only: a new job's version is 0", got)
	}
	if report.Pending() || report.Failed() {
		t.Errorf("Pending %v Failed %v after a clean apply", report.Pending(), report.Failed())
	}
}

func TestSync_RefusesOnIndexConflict(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		conflict bool
	}{
		{
			name:     "api response",
			err:      unexpectedResponse(t, http.StatusInternalServerError, "Enforcing job modify index 42: job exists with conflicting job modify index: 43"),
			conflict: true,
		},
		{
			name: "other refusal",
			err:  unexpectedResponse(t, http.StatusBadRequest, "job validation failed"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, set := mixedCluster(t)
			c.registerErr = map[string]error{"update": tt.err}
			report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			regs := c.registrations()
			if n := len(regs["update"]); n != 1 {
				t.Errorf("refused job registered %d times, want exactly 1", n)
			}
			r := resultsByID(report)["update"]
			if r.Err == nil || r.Applied != nil {
				t.Fatalf("refused job: err %v, applied %v", r.Err, r.Applied)
			}
			if IsConflict(r.Err) != tt.conflict {
				t.Errorf("IsConflict(%v) = %v, want %v", r.Err, !tt.conflict, tt.conflict)
			}
			if !strings.Contains(r.Err.Error(), "default/update") {
				t.Errorf("error %q does not name the job", r.Err)
			}
			if r.Class != Update {
				t.Errorf("class %s, want update kept on a failed register", r.Class)
			}
			want := Counts{InSync: 1, Create: 1, Update: 1, Drift: 1, Applied: 2, Errors: 1, Planned: 4}
			wantState := "error"
			if tt.conflict {
				want.Errors, want.Conflicts = 0, 1
				wantState = "conflict"
			}
			if got := report.Counts(); got != want {
				t.Errorf("Counts = %+v, want %+v", got, want)
			}
			if string(r.State()) != wantState {
				t.Errorf("State = %s, want %s", r.State(), wantState)
			}
			// The other jobs still apply.
			if len(regs["create"]) != 1 || len(regs["drift"]) != 1 {
				t.Errorf("registers %v: want create and drift applied despite the refusal", regs)
			}
			if !report.Failed() || !report.Pending() {
				t.Errorf("Failed %v Pending %v, want both true", report.Failed(), report.Pending())
			}
		})
	}
}

func TestSync_CommitMovesOnlyWhenSpecChanges(t *testing.T) {
	same := jobFile(t, "same", "a:1")
	changed := jobFile(t, "changed", "b:2")
	c := &fakeCluster{
		stubs: []*api.JobListStub{
			stub("same", 5, owned("same.nomad", "old", same.Fingerprint)),
			stub("changed", 6, owned("changed.nomad", "old", "fp-of-b:1")),
		},
		plans: map[string]*api.JobPlanResponse{
			"same":    changedPlan("same", 5),
			"changed": changedPlan("changed", 6),
		},
	}
	set := &jobs.Set{Revision: "new", Files: []*jobs.File{changed, same}}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	regs := c.registrations()
	for id, want := range map[string]string{"same": "old", "changed": "new"} {
		if len(regs[id]) != 1 {
			t.Fatalf("%s: %d registers, want 1", id, len(regs[id]))
		}
		if got := regs[id][0].job.Meta[jobs.MetaCommit]; got != want {
			t.Errorf("%s: registered %s = %q, want %q", id, jobs.MetaCommit, got, want)
		}
		r := resultsByID(report)[id]
		if r.Commit != want || r.AppliedCommit != "old" {
			t.Errorf("%s: Commit %q AppliedCommit %q, want %q and old", id, r.Commit, r.AppliedCommit, want)
		}
	}
	// The plan saw the same meta the register wrote.
	for _, j := range c.planned {
		if *j.ID == "same" && j.Meta[jobs.MetaCommit] != "old" {
			t.Errorf("planned same with commit %q, want old", j.Meta[jobs.MetaCommit])
		}
	}
}

func TestSync_RefusesJobOwnedByAnotherInstance(t *testing.T) {
	f := jobFile(t, "web", "a:1")
	meta := owned("web.nomad", "c1", "fp")
	meta[jobs.MetaInstance] = "other"
	c := &fakeCluster{stubs: []*api.JobListStub{stub("web", 3, meta)}}
	report, err := newEngine(c, Options{Apply: true, Prune: true}).Sync(context.Background(), &jobs.Set{Files: []*jobs.File{f}})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	r := report.Jobs[0]
	if r.Class != Failed || r.Err == nil || !strings.Contains(r.Err.Error(), `"other"`) {
		t.Errorf("class %s err %v, want an error naming instance other", r.Class, r.Err)
	}
	if len(c.registered) != 0 || len(c.planned) != 0 {
		t.Errorf("planned %d, registered %d: want neither", len(c.planned), len(c.registered))
	}
	if len(report.Orphans) != 0 || len(c.deregistered) != 0 {
		t.Errorf("orphans %v deregistered %v: another instance's job is not ours", report.Orphans, c.deregistered)
	}
	if !report.Failed() {
		t.Error("Failed() = false")
	}
}

func TestSync_ReportsFileAndPlanErrors(t *testing.T) {
	c := &fakeCluster{planErr: map[string]error{"unplannable": unexpectedResponse(t, http.StatusBadRequest, "invalid job")}}
	set := &jobs.Set{Revision: "r", Files: []*jobs.File{
		brokenFile("bad.nomad"), jobFile(t, "good", "a:1"), jobFile(t, "unplannable", "a:1"),
	}}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if len(report.Jobs) != 3 {
		t.Fatalf("%d results, want 3", len(report.Jobs))
	}
	bad, good, unplannable := report.Jobs[0], report.Jobs[1], report.Jobs[2]
	if bad.Path != "bad.nomad" || bad.Class != Failed || bad.Commit != "r" || bad.State() != "error" {
		t.Errorf("broken file result %+v", bad)
	}
	if unplannable.Class != Failed || unplannable.Err == nil ||
		!strings.Contains(unplannable.Err.Error(), "plan default/unplannable: Unexpected response code: 400 (invalid job)") {
		t.Errorf("plan failure result: class %s err %v", unplannable.Class, unplannable.Err)
	}
	if good.Class != Create || good.Applied == nil {
		t.Errorf("good job: class %s applied %v", good.Class, good.Applied)
	}
	if regs := c.registrations(); len(regs) != 1 || len(regs["good"]) != 1 {
		t.Errorf("registered %v, want only good", regs)
	}
	if got := report.Counts(); got.Errors != 2 || got.Applied != 1 {
		t.Errorf("Counts = %+v, want 2 errors, 1 applied", got)
	}
}

// TestSync_UnreachableNomadFailsTheCycleOnce: a plan Nomad does not answer
// (a timeout, a 5xx) stops the cycle instead of waiting out the call
// timeout once per job; nothing is pruned.
func TestSync_UnreachableNomadFailsTheCycleOnce(t *testing.T) {
	for name, err := range map[string]error{
		"timeout": context.DeadlineExceeded,
		"503":     unexpectedResponse(t, http.StatusServiceUnavailable, "no healthy upstream"),
	} {
		t.Run(name, func(t *testing.T) {
			set := &jobs.Set{Revision: "r"}
			for _, id := range []string{"a", "b", "c", "d", "e"} {
				set.Files = append(set.Files, jobFile(t, id, "x"))
			}
			c := &fakeCluster{
				planErr: map[string]error{"a": err},
				stubs:   []*api.JobListStub{stub("orphan", 3, owned("gone.nomad", "c0", "fp"))},
			}
			report, got := newEngine(c, Options{Apply: true, Prune: true, Parallel: 1}).Sync(context.Background(), set)
			if !IsUnreachable(got) || !strings.Contains(got.Error(), "plan default/a") {
				t.Fatalf("Sync error = %v, want the unreachable plan of a", got)
			}
			if planned := c.plannedIDs(); len(planned) != 1 {
				t.Errorf("planned %q, want only the first job", planned)
			}
			if report == nil || len(report.Orphans) != 0 || len(c.registrations()) != 0 {
				t.Errorf("report %+v, registers %v: want the failed job only, nothing pruned", report, c.registrations())
			}
		})
	}
}

// TestSync_JobFailingValidationFailsOnlyItself: Nomad answers a plan of a
// job that does not validate with a 500; that job is an error, the others
// sync.
func TestSync_JobFailingValidationFailsOnlyItself(t *testing.T) {
	c, set := mixedCluster(t)
	c.planErr = map[string]error{"update": unexpectedResponse(t, http.StatusInternalServerError,
		"1 error occurred:\n\t* Task group web validation failed: healthy_deadline must be less than progress_deadline")}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("Sync: %v; want the cycle to go on", err)
	}
	if r := resultsByID(report)["update"]; r.Err == nil || IsUnreachable(r.Err) {
		t.Errorf("invalid job: err %v; want its own error", r.Err)
	}
	if regs := c.registrations(); len(regs["create"]) != 1 || len(regs["drift"]) != 1 {
		t.Errorf("registers %v; want the other jobs applied", regs)
	}
}

func TestSync_ListErrorFailsCycle(t *testing.T) {
	c := &fakeCluster{jobsErr: errors.New("connection refused")}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), &jobs.Set{Files: []*jobs.File{jobFile(t, "a", "x")}})
	if err == nil || report != nil || !strings.Contains(err.Error(), "list jobs") {
		t.Fatalf("Sync = %v, %v; want no report and a list error", report, err)
	}
	if len(c.planned) != 0 {
		t.Errorf("planned %d jobs after a failed list", len(c.planned))
	}
}

func TestSync_CancelStopsNewJobs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set := &jobs.Set{}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		set.Files = append(set.Files, jobFile(t, id, "x"))
	}
	c := &fakeCluster{
		plans: map[string]*api.JobPlanResponse{"a": changedPlan("a", 0)},
		// Shutdown arrives while the first job is being planned.
		onPlan: func(*api.Job) { cancel() },
	}
	// One at a time, so the loop is waiting for the first job when the
	// context is cancelled.
	report, err := newEngine(c, Options{Apply: true, Prune: true, Parallel: 1}).Sync(ctx, set)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync error = %v, want context.Canceled", err)
	}
	if got := c.plannedIDs(); len(got) != 1 || got[0] != "a" {
		t.Errorf("planned %q after cancel, want only a", got)
	}
	if len(c.registered) != 0 {
		t.Errorf("registered %d jobs after cancel, want none", len(c.registered))
	}
	if report == nil || len(report.Jobs) != 1 || report.Jobs[0].ID != "a" {
		t.Fatalf("report %+v, want the one job that started", report)
	}
}

func TestSync_CancelledBeforeStartPlansNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &fakeCluster{}
	set := &jobs.Set{Files: []*jobs.File{jobFile(t, "a", "x"), jobFile(t, "b", "x")}}
	_, err := newEngine(c, Options{Apply: true}).Sync(ctx, set)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync error = %v, want context.Canceled", err)
	}
	if got := c.plannedIDs(); len(got) != 0 {
		t.Errorf("planned %q with a cancelled context", got)
	}
}

// TestSync_HeldJobsArePlannedNotRegistered: the rollout layer holds a job
// (its rollout is watched, or its spec is quarantined) and pins another to
// an older commit; the engine plans both, registers only the pinned one,
// and stamps it with the older commit.
func TestSync_HeldJobsArePlannedNotRegistered(t *testing.T) {
	c, set := mixedCluster(t)
	for _, f := range set.Files {
		switch *f.Job.ID {
		case "drift":
			f.Hold = "spec quarantined"
		case "update":
			f.Commit = "c0"
		}
	}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	regs := c.registrations()
	if len(regs["drift"]) != 0 {
		t.Error("a held job was registered")
	}
	if got := regs["update"]; len(got) != 1 || got[0].job.Meta[jobs.MetaCommit] != "c0" {
		t.Errorf("pinned job registrations = %+v; want one stamped with its own commit c0", got)
	}
	r := resultsByID(report)
	if r["drift"].Class != Drift || r["drift"].State() != "held" || r["drift"].Hold != "spec quarantined" {
		t.Errorf("held job: class %s state %s hold %q", r["drift"].Class, r["drift"].State(), r["drift"].Hold)
	}
	if r["update"].Commit != "c0" || r["update"].Fingerprint == "" {
		t.Errorf("pinned job result: commit %s fingerprint %q", r["update"].Commit, r["update"].Fingerprint)
	}
	if report.Pending() {
		t.Error("Pending() with only a held job left: a sync would change nothing")
	}
}

// TestSync_NoWriteOnceTheLeadershipIsGone: Allowed is asked before every
// register; a refusal writes nothing and stops the cycle.
func TestSync_NoWriteOnceTheLeadershipIsGone(t *testing.T) {
	c, set := mixedCluster(t)
	report, err := newEngine(c, Options{Apply: true, Parallel: 1, Allowed: func() bool { return false }}).Sync(context.Background(), set)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("Sync error = %v, want ErrFenced", err)
	}
	if regs := c.registrations(); len(regs) != 0 {
		t.Errorf("registered %v without the leadership", regs)
	}
	if report == nil || report.Counts().Applied != 0 {
		t.Errorf("report %+v, want nothing applied", report)
	}
}

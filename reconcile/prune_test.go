package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

func orphanStub() *api.JobListStub {
	return stub("gone", 11, owned("apps/gone.nomad", "c0", "fp-gone"))
}

func TestSync_PrunesOrphanOfThisInstance(t *testing.T) {
	keep := jobFile(t, "keep", "a:1")
	c := &fakeCluster{stubs: []*api.JobListStub{
		stub("keep", 3, owned("keep.nomad", "c1", keep.Fingerprint)),
		orphanStub(),
	}}
	report, err := newEngine(c, Options{Apply: true, Prune: true}).Sync(context.Background(), &jobs.Set{Files: []*jobs.File{keep}})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if len(c.deregistered) != 1 || c.deregistered[0] != (jobs.Key{Namespace: "default", ID: "gone"}) {
		t.Fatalf("deregistered %v, want only default/gone", c.deregistered)
	}
	if len(report.Orphans) != 1 {
		t.Fatalf("orphans %v, want one", report.Orphans)
	}
	o := report.Orphans[0]
	if o.ID != "gone" || o.Path != "apps/gone.nomad" || o.Commit != "c0" || !o.Pruned || o.EvalID != "eval-stop-gone" {
		t.Errorf("orphan %+v", o)
	}
	if report.PruneBlocked != "" {
		t.Errorf("PruneBlocked = %q", report.PruneBlocked)
	}
	if got := report.Counts(); got.Orphans != 1 || got.Pruned != 1 {
		t.Errorf("Counts = %+v, want 1 orphan pruned", got)
	}
	if report.Pending() {
		t.Error("Pending() after pruning the only orphan")
	}
}

func TestSync_KeepsOrphansWhenPruningIsUnsafe(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		files   []*jobs.File
		blocked string // substring of PruneBlocked; "" means it must be empty
	}{
		{name: "prune off", opts: Options{Apply: true}, files: []*jobs.File{jobFile(t, "keep", "a")}},
		{name: "dry run", opts: Options{Prune: true}, files: []*jobs.File{jobFile(t, "keep", "a")}, blocked: "dry run"},
		{
			name:    "a file failed to load",
			opts:    Options{Apply: true, Prune: true},
			files:   []*jobs.File{jobFile(t, "keep", "a"), brokenFile("other.nomad")},
			blocked: "failed to load",
		},
		{name: "no files", opts: Options{Apply: true, Prune: true}, files: nil, blocked: "no job files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeCluster{stubs: []*api.JobListStub{orphanStub()}}
			report, err := newEngine(c, tt.opts).Sync(context.Background(), &jobs.Set{Files: tt.files})
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if len(c.deregistered) != 0 {
				t.Errorf("deregistered %v", c.deregistered)
			}
			if len(report.Orphans) != 1 || report.Orphans[0].Pruned {
				t.Fatalf("orphans %+v, want gone reported and kept", report.Orphans)
			}
			switch {
			case tt.blocked == "" && report.PruneBlocked != "":
				t.Errorf("PruneBlocked = %q, want empty", report.PruneBlocked)
			case !strings.Contains(report.PruneBlocked, tt.blocked):
				t.Errorf("PruneBlocked = %q, want it to mention %q", report.PruneBlocked, tt.blocked)
			}
			if !report.Pending() {
				t.Error("Pending() = false with an orphan kept")
			}
		})
	}
}

func TestSync_NeverPrunesJobsItDoesNotOwn(t *testing.T) {
	other := owned("x.nomad", "c", "fp")
	other[jobs.MetaInstance] = "other"
	unmanaged := owned("x.nomad", "c", "fp")
	unmanaged[jobs.MetaManaged] = "false"
	child := stub("gone/periodic-1700000000", 4, owned("gone.nomad", "c", "fp"))
	child.ParentID = "gone-parent"
	stopped := stub("stopped", 5, owned("stopped.nomad", "c", "fp"))
	stopped.Stop, stopped.Status = true, "dead"
	tests := []struct {
		name string
		stub *api.JobListStub
	}{
		{name: "no drover meta", stub: stub("hand", 1, nil)},
		{name: "user meta only", stub: stub("hand", 1, map[string]string{"team": "web"})},
		{name: "another instance", stub: stub("theirs", 2, other)},
		{name: "managed is not true", stub: stub("theirs", 2, unmanaged)},
		{name: "periodic or dispatch child", stub: child},
		{name: "already stopped", stub: stopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep := jobFile(t, "keep", "a")
			c := &fakeCluster{stubs: []*api.JobListStub{tt.stub}}
			report, err := newEngine(c, Options{Apply: true, Prune: true}).Sync(context.Background(), &jobs.Set{Files: []*jobs.File{keep}})
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if len(report.Orphans) != 0 || len(c.deregistered) != 0 {
				t.Errorf("orphans %+v, deregistered %v: want none", report.Orphans, c.deregistered)
			}
		})
	}
}

func TestSync_OrphanOfBrokenFileIsNotReported(t *testing.T) {
	c := &fakeCluster{stubs: []*api.JobListStub{
		stub("web", 3, owned("web.nomad", "c1", "fp")),
		orphanStub(),
	}}
	set := &jobs.Set{Files: []*jobs.File{brokenFile("web.nomad")}}
	report, err := newEngine(c, Options{Apply: true, Prune: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if len(report.Orphans) != 1 || report.Orphans[0].ID != "gone" {
		t.Errorf("orphans %+v, want only gone (web's file is broken, not gone)", report.Orphans)
	}
	if len(c.deregistered) != 0 {
		t.Errorf("deregistered %v while a file is broken", c.deregistered)
	}
}

func TestSync_OrphansAreSorted(t *testing.T) {
	c := &fakeCluster{}
	for _, id := range []string{"d", "b", "e", "a", "c"} {
		c.stubs = append(c.stubs, stub(id, 1, owned(id+".nomad", "c", "fp")))
	}
	report, err := newEngine(c, Options{}).Sync(context.Background(), &jobs.Set{Files: []*jobs.File{jobFile(t, "keep", "x")}})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	var got []string
	for _, o := range report.Orphans {
		got = append(got, o.ID)
	}
	if strings.Join(got, ",") != "a,b,c,d,e" {
		t.Errorf("orphans in order %v", got)
	}
}

func TestSync_KeepsOrphansTheControlsHold(t *testing.T) {
	gone := jobs.Key{Namespace: "default", ID: "gone"}
	for _, tc := range []struct {
		name          string
		set           *jobs.Set
		blocked, kept string
	}{
		{name: "instance suspended", set: &jobs.Set{NoPrune: "instance suspended by ann"}, blocked: "instance suspended by ann"},
		{name: "job suspended", set: &jobs.Set{Keep: map[jobs.Key]string{gone: "job suspended by ann"}}, kept: "job suspended by ann"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.set.Files = []*jobs.File{jobFile(t, "keep", "a")}
			c := &fakeCluster{stubs: []*api.JobListStub{orphanStub()}}
			report, err := newEngine(c, Options{Apply: true, Prune: true}).Sync(context.Background(), tc.set)
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if len(c.deregistered) != 0 {
				t.Errorf("deregistered %v", c.deregistered)
			}
			if len(report.Orphans) != 1 || report.Orphans[0].Pruned || report.Orphans[0].Blocked != tc.kept || report.PruneBlocked != tc.blocked {
				t.Fatalf("orphans %+v, prune blocked %q", report.Orphans, report.PruneBlocked)
			}
		})
	}
}

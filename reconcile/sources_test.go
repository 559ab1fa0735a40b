package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// fromSource is f as source name read it.
func fromSource(f *jobs.File, name string) *jobs.File {
	f.SourceName = name
	return f
}

// ownedBy is drover meta of a job registered from a source.
func ownedBy(source, path string) map[string]string {
	m := owned(path, "c0", "fp-"+path)
	m[jobs.MetaSource] = source
	return m
}

func TestSync_ManySourcesStampTheirSourceAndCommit(t *testing.T) {
	a, b := fromSource(jobFile(t, "a", "x"), "alpha"), fromSource(jobFile(t, "b", "x"), "beta")
	c := &fakeCluster{}
	set := &jobs.Set{Revision: "alpha@ca,beta@cb", Files: []*jobs.File{a, b}, Sources: []jobs.SourceOutcome{
		{Name: "alpha", Revision: "ca"}, {Name: "beta", Revision: "cb"},
	}}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	regs := c.registrations()
	for id, want := range map[string][2]string{"a": {"alpha", "ca"}, "b": {"beta", "cb"}} {
		calls := regs[id]
		if len(calls) != 1 {
			t.Fatalf("%s registered %d times", id, len(calls))
		}
		meta := calls[0].job.Meta
		if meta[jobs.MetaSource] != want[0] || meta[jobs.MetaCommit] != want[1] {
			t.Errorf("%s meta %v; want source %s commit %s", id, meta, want[0], want[1])
		}
		r := resultsByID(report)[id]
		if r.Source != want[0] || r.Commit != want[1] {
			t.Errorf("%s result source %q commit %q", id, r.Source, r.Commit)
		}
	}
}

func TestSync_ManySourcesPruneEachByItsOwnSource(t *testing.T) {
	keepA := fromSource(jobFile(t, "keep-a", "x"), "alpha")
	keepB := fromSource(jobFile(t, "keep-b", "x"), "beta")
	stubs := func() []*api.JobListStub {
		return []*api.JobListStub{
			stub("keep-a", 1, ownedBy("alpha", "keep-a.nomad")),
			stub("keep-b", 1, ownedBy("beta", "keep-b.nomad")),
			stub("gone-a", 1, ownedBy("alpha", "gone-a.nomad")),
			stub("gone-b", 1, ownedBy("beta", "gone-b.nomad")),
			stub("gone-old", 1, ownedBy("removed", "old.nomad")),
			stub("gone-flags", 1, owned("flags.nomad", "c0", "fp")),
		}
	}
	for _, tc := range []struct {
		name    string
		files   []*jobs.File
		sources []jobs.SourceOutcome
		pruned  string
		blocked map[string]string
	}{
		{
			name:    "both read, prune on in alpha only",
			files:   []*jobs.File{keepA, keepB},
			sources: []jobs.SourceOutcome{{Name: "alpha", Prune: true}, {Name: "beta"}},
			pruned:  "gone-a",
			blocked: map[string]string{"gone-old": `source "removed" is not in the config`, "gone-flags": "no drover.source"},
		},
		{
			name:    "beta unreadable",
			files:   []*jobs.File{keepA},
			sources: []jobs.SourceOutcome{{Name: "alpha", Prune: true}, {Name: "beta", Prune: true, Err: errors.New("fetch: refused")}},
			pruned:  "gone-a",
			blocked: map[string]string{"gone-b": `source "beta" could not be read`, "keep-b": `source "beta" could not be read`},
		},
		{
			name:    "a broken file in alpha",
			files:   []*jobs.File{keepA, fromSource(brokenFile("x.nomad"), "alpha"), keepB},
			sources: []jobs.SourceOutcome{{Name: "alpha", Prune: true}, {Name: "beta", Prune: true}},
			pruned:  "gone-b",
			blocked: map[string]string{"gone-a": `a job file of source "alpha" failed to load`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCluster{stubs: stubs()}
			set := &jobs.Set{Files: tc.files, Sources: tc.sources}
			report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.deregistered) != 1 || c.deregistered[0].ID != tc.pruned {
				t.Errorf("deregistered %v, want only %s", c.deregistered, tc.pruned)
			}
			for _, o := range report.Orphans {
				if want, ok := tc.blocked[o.ID]; ok && !strings.Contains(o.Blocked, want) {
					t.Errorf("orphan %s blocked %q, want %q", o.ID, o.Blocked, want)
				}
			}
			if report.PruneBlocked != "" {
				t.Errorf("PruneBlocked = %q; with sources each orphan says", report.PruneBlocked)
			}
		})
	}
}

func TestSync_JobClaimedByTwoSourcesIsNeitherAppliedNorPruned(t *testing.T) {
	a := fromSource(jobFile(t, "dup", "a"), "alpha")
	b := fromSource(jobFile(t, "dup", "b"), "beta")
	set := jobs.Merge([]jobs.SourceSet{
		{SourceOutcome: jobs.SourceOutcome{Name: "alpha", Revision: "ca", Prune: true}, Set: &jobs.Set{Files: []*jobs.File{a}}},
		{SourceOutcome: jobs.SourceOutcome{Name: "beta", Revision: "cb", Prune: true}, Set: &jobs.Set{Files: []*jobs.File{b}}},
	})
	c := &fakeCluster{stubs: []*api.JobListStub{stub("dup", 1, ownedBy("alpha", "dup.nomad"))}}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.registrations()) != 0 || len(c.deregistered) != 0 || len(report.Orphans) != 0 {
		t.Fatalf("registered %v, deregistered %v, orphans %v; want nothing done", c.registrations(), c.deregistered, report.Orphans)
	}
	if n := report.Counts().Errors; n != 2 {
		t.Errorf("errors = %d, want one per source", n)
	}
	for _, r := range report.Jobs {
		if r.ID != "dup" || r.Err == nil || !strings.Contains(r.Err.Error(), "declared by sources alpha (dup.nomad) and beta (dup.nomad)") {
			t.Errorf("result %+v: %v", r, r.Err)
		}
	}
}

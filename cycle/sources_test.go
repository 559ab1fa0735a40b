package cycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/source"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// revTree is a tree at a revision; its files do not matter to these
// loaders.
type revTree string

func (t revTree) Revision() string              { return string(t) }
func (revTree) Files() ([]string, error)        { return nil, nil }
func (revTree) ReadFile(string) ([]byte, error) { return nil, errors.New("none") }

// fakeSource returns a tree at *rev, or err, and counts its fetches.
type fakeSource struct {
	rev     string
	err     error
	fetches atomic.Int32
}

func (s *fakeSource) Fetch(context.Context) (jobs.Tree, error) {
	s.fetches.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	return revTree(s.rev), nil
}

// oneJob loads one job, id, of source name from any tree, a new set per
// revision, as a *jobs.Loader with Source set does.
func oneJob(name, id string) Loader {
	var last *jobs.Set
	return loadFunc(func(_ context.Context, tree jobs.Tree) (*jobs.Set, error) {
		if last != nil && last.Revision == tree.Revision() {
			return last, nil
		}
		ns := "default"
		last = &jobs.Set{Revision: tree.Revision(), Files: []*jobs.File{{Path: id + ".nomad", SourceName: name, Job: &api.Job{ID: &id, Namespace: &ns}}}}
		return last, nil
	})
}

func TestSources_OneFetchPerRepoAndTheSameSetWhenNothingMoved(t *testing.T) {
	mono := &fakeSource{rev: "m1"}
	other := &fakeSource{rev: "o1"}
	s := newSources([]NamedSource{
		{Name: "web", Repo: "mono\x00main", Source: mono, Loader: oneJob("web", "web")},
		{Name: "db", Repo: "mono\x00main", Source: mono, Loader: oneJob("db", "db")},
		{Name: "other", Repo: "other\x00main", Source: other, Loader: oneJob("other", "x")},
	}, zerolog.Nop())
	load := func() *jobs.Set {
		t.Helper()
		tree, err := s.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		set, err := s.Load(context.Background(), tree)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	first := load()
	if mono.fetches.Load() != 1 || other.fetches.Load() != 1 {
		t.Errorf("fetches: mono %d, other %d; want one per repo", mono.fetches.Load(), other.fetches.Load())
	}
	if first.Revision != "web@m1,db@m1,other@o1" || len(first.Files) != 3 {
		t.Errorf("merged set: revision %q, %d files", first.Revision, len(first.Files))
	}
	if again := load(); again != first {
		t.Error("a cycle in which no source moved gave a new set")
	}
	other.rev = "o2"
	if moved := load(); moved == first || moved.RevisionOf(moved.Files[2]) != "o2" || moved.RevisionOf(moved.Files[0]) != "m1" {
		t.Errorf("after other moved: revision %q", moved.Revision)
	}
}

func TestSources_AnUnreadableSourceHoldsItsLastJobs(t *testing.T) {
	up, down := &fakeSource{rev: "u1"}, &fakeSource{rev: "d1"}
	s := newSources([]NamedSource{
		{Name: "up", Repo: "up", Source: up, Loader: oneJob("up", "u"), Prune: true},
		{Name: "down", Repo: "down", Source: down, Loader: oneJob("down", "d"), Prune: true},
	}, zerolog.Nop())
	run := func() (*jobs.Set, error) {
		tree, err := s.Fetch(context.Background())
		if err != nil {
			return nil, err
		}
		return s.Load(context.Background(), tree)
	}
	if _, err := run(); err != nil {
		t.Fatal(err)
	}
	down.err = errors.New("connection refused")
	set, err := run()
	if err != nil {
		t.Fatalf("one source down failed the cycle: %v", err)
	}
	o := set.Source("down")
	if o == nil || o.Err == nil || o.Revision != "d1" {
		t.Fatalf("down's outcome %+v; want its error and its last revision", o)
	}
	held := set.Files[1]
	if held.SourceName != "down" || held.Hold == "" || !strings.Contains(held.Hold, `source "down" could not be read`) {
		t.Errorf("down's job: hold %q", held.Hold)
	}
	if set.Files[0].Hold != "" || set.Source("up").Err != nil {
		t.Errorf("up's job held (%q) or up failed", set.Files[0].Hold)
	}

	up.err = source.ErrRefNotFound
	_, err = run()
	if !errors.Is(err, source.ErrRefNotFound) {
		t.Fatalf("every source down: %v; want the first source's error, so the cycle is classified by it", err)
	}
	if f := classify(context.Background(), StepFetch, err); f.Kind != Stalled {
		t.Errorf("kind %s, want stalled as with that source alone", f.Kind)
	}
}

// TestSources_TheFlagsSourceIsItsOwnSet: the source the flags make has no
// name; its set and its errors are its own, as if there were no Sources.
func TestSources_TheFlagsSourceIsItsOwnSet(t *testing.T) {
	repo := &fakeSource{rev: "c1"}
	s := newSources([]NamedSource{{Source: repo, Loader: oneJob("", "web")}}, zerolog.Nop())
	run := func() (*jobs.Set, error) {
		tree, err := s.Fetch(context.Background())
		if err != nil {
			return nil, err
		}
		return s.Load(context.Background(), tree)
	}
	first, err := run()
	if err != nil || first.Revision != "c1" || first.Sources != nil || len(first.Files) != 1 {
		t.Fatalf("set %+v, %v; want the loader's own set at c1, naming no source", first, err)
	}
	if again, _ := run(); again != first {
		t.Error("a load of the same commit gave another set")
	}
	repo.err = fmt.Errorf("resolve ref \"nope\": %w", source.ErrRefNotFound)
	if _, err := run(); err == nil || err.Error() != `resolve ref "nope": ref not found` {
		t.Errorf("error %v; want the source's own, naming no source", err)
	}
}

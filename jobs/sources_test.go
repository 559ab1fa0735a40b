package jobs

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func sourceFile(source, path, id string) *File {
	ns := "default"
	return &File{Path: path, SourceName: source, Job: &api.Job{ID: &id, Namespace: &ns}}
}

func TestMerge_AJobTwoSourcesDeclareFailsInBoth(t *testing.T) {
	a := sourceFile("a", "x.nomad", "x")
	b := sourceFile("b", "jobs/x.nomad", "x")
	own := sourceFile("b", "y.nomad", "y")
	set := Merge([]SourceSet{
		{SourceOutcome: SourceOutcome{Name: "a", Revision: "ca"}, Set: &Set{Revision: "ca", Files: []*File{a}, Skipped: []Skipped{{Path: "l.nomad"}}}},
		{SourceOutcome: SourceOutcome{Name: "b", Revision: "cb"}, Set: &Set{Revision: "cb", Files: []*File{b, own}}},
		{SourceOutcome: SourceOutcome{Name: "c", Err: errors.New("fetch failed")}},
	})
	if set.Revision != "a@ca,b@cb,c@" || len(set.Sources) != 3 || len(set.Files) != 3 {
		t.Fatalf("merged: revision %q, %d sources, %d files", set.Revision, len(set.Sources), len(set.Files))
	}
	for _, f := range set.Files[:2] {
		if f.Err == nil || !strings.Contains(f.Err.Error(), "job default/x is declared by sources a (x.nomad) and b (jobs/x.nomad)") {
			t.Errorf("%s: %v", f.Path, f.Err)
		}
	}
	if a.Err != nil || b.Err != nil {
		t.Error("Merge failed the loaders' own files, which they cache")
	}
	if set.Files[2].Err != nil || set.RevisionOf(set.Files[2]) != "cb" || set.RevisionOf(set.Files[0]) != "ca" {
		t.Errorf("y: err %v, revision %q", set.Files[2].Err, set.RevisionOf(set.Files[2]))
	}
	if len(set.Skipped) != 1 || set.Skipped[0].Path != "a:l.nomad" {
		t.Errorf("skipped %+v; want the path named with its source", set.Skipped)
	}
}

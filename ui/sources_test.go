package ui

import (
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
)

// TestRows_NameTheSourceOfEachFile: with many sources a row's file is
// named with its source; with one, as before.
func TestRows_NameTheSourceOfEachFile(t *testing.T) {
	d := &api.Status{Report: &api.Report{
		Jobs: []api.Job{
			{Job: "web", Namespace: "default", Path: "jobs/web.nomad.hcl", Source: "platform", Class: api.ClassInSync},
			{Job: "api", Namespace: "default", Path: "api.nomad.hcl", Class: api.ClassInSync},
		},
		Orphans: []api.Orphan{{Job: "old", Namespace: "default", Path: "old.nomad.hcl", Source: "apps"}},
	}}
	want := map[string]string{"web": "platform: jobs/web.nomad.hcl", "api": "api.nomad.hcl", "old": "apps: old.nomad.hcl"}
	got := rows(d, time.Now(), time.Minute)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for _, r := range got {
		if r.Path != want[r.Name] {
			t.Errorf("row %s: path %q, want %q", r.Name, r.Path, want[r.Name])
		}
	}
}

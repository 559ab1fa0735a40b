package ui

import (
	"testing"
	"time"
)

// TestRows_NameTheSourceOfEachFile: with many sources a row's file is
// named with its source; with one, as before.
func TestRows_NameTheSourceOfEachFile(t *testing.T) {
	d := &statusDoc{Report: &report{
		Jobs: []reportJob{
			{Job: "web", Namespace: "default", Path: "jobs/web.nomad.hcl", Source: "platform", Class: "in_sync"},
			{Job: "api", Namespace: "default", Path: "api.nomad.hcl", Class: "in_sync"},
		},
		Orphans: []orphan{{Job: "old", Namespace: "default", Path: "old.nomad.hcl", Source: "apps"}},
	}}
	want := map[string]string{"web": "platform: jobs/web.nomad.hcl", "api": "api.nomad.hcl", "old": "apps: old.nomad.hcl"}
	rows := d.rows(time.Now(), time.Minute)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		if r.Path != want[r.Name] {
			t.Errorf("row %s: path %q, want %q", r.Name, r.Path, want[r.Name])
		}
	}
}

package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

func key(id string) jobs.Key { return jobs.Key{Namespace: "default", ID: id} }

var conflictErr = fmt.Errorf("register default/x at index 4: %w", ErrConflict)

func TestReport_CountsPendingFailed(t *testing.T) {
	tests := []struct {
		name    string
		report  Report
		counts  Counts
		pending bool
		failed  bool
	}{
		{name: "empty", report: Report{}},
		{
			name:   "all in sync",
			report: Report{Jobs: []*JobResult{{Class: InSync}, {Class: InSync}}},
			counts: Counts{InSync: 2},
		},
		{
			name:    "dry run with differences",
			report:  Report{Jobs: []*JobResult{{Class: Create}, {Class: Update}, {Class: Drift}, {Class: InSync}}},
			counts:  Counts{InSync: 1, Create: 1, Update: 1, Drift: 1},
			pending: true,
		},
		{
			name: "everything applied",
			report: Report{Jobs: []*JobResult{
				{Class: Create, Applied: &Applied{}}, {Class: Drift, Applied: &Applied{}},
			}},
			counts: Counts{Create: 1, Drift: 1, Applied: 2},
		},
		{
			name:    "conflict",
			report:  Report{Jobs: []*JobResult{{Class: Update, Err: conflictErr}}},
			counts:  Counts{Update: 1, Conflicts: 1},
			pending: true,
			failed:  true,
		},
		{
			name:   "broken file",
			report: Report{Jobs: []*JobResult{{Class: Failed, Err: errors.New("bad")}}},
			counts: Counts{Errors: 1},
			failed: true,
		},
		{
			name:    "orphan kept",
			report:  Report{Orphans: []*Orphan{{Key: key("gone")}}},
			counts:  Counts{Orphans: 1},
			pending: true,
		},
		{
			name:   "orphan pruned",
			report: Report{Orphans: []*Orphan{{Key: key("gone"), Pruned: true}}},
			counts: Counts{Orphans: 1, Pruned: 1},
		},
		{
			name:    "prune failed",
			report:  Report{Orphans: []*Orphan{{Key: key("gone"), Err: errors.New("403")}}},
			counts:  Counts{Orphans: 1, Errors: 1},
			pending: true,
			failed:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.report.Counts(); got != tt.counts {
				t.Errorf("Counts = %+v, want %+v", got, tt.counts)
			}
			if got := tt.report.Pending(); got != tt.pending {
				t.Errorf("Pending = %v, want %v", got, tt.pending)
			}
			if got := tt.report.Failed(); got != tt.failed {
				t.Errorf("Failed = %v, want %v", got, tt.failed)
			}
		})
	}
}

func TestJobResult_State(t *testing.T) {
	tests := []struct {
		r    JobResult
		want string
	}{
		{JobResult{Class: Update, Err: conflictErr}, "conflict"},
		{JobResult{Class: Failed, Err: errors.New("bad")}, "error"},
		{JobResult{Class: Create, Applied: &Applied{}}, "applied"},
		{JobResult{Class: InSync}, "synced"},
		{JobResult{Class: Drift}, "out_of_sync"},
	}
	for _, tt := range tests {
		if got := string(tt.r.State()); got != tt.want {
			t.Errorf("State of %+v = %s, want %s", tt.r, got, tt.want)
		}
	}
}

func TestReport_JSONShape(t *testing.T) {
	report := &Report{
		Revision: "abc",
		Jobs: []*JobResult{
			{
				Key: key("web"), Path: "web.nomad", Commit: "abc", AppliedCommit: "old", Class: Update,
				Changes: []string{`TaskGroups[g].Count: "1" => "2"`},
				Groups:  map[string]GroupCounts{"g": {Place: 1}},
				PlacementFailures: map[string]*api.AllocationMetric{
					"z": {}, "a": {},
				},
				Applied: &Applied{EvalID: "e1", Version: 3, ModifyIndex: 99},
			},
			{Key: key("api"), Path: "api.nomad", Class: Update, Err: conflictErr},
			{Path: "bad.nomad", Class: Failed, Err: errors.New("bad.nomad:3,1-2: Unsupported argument")},
		},
		Orphans:      []*Orphan{{Key: key("gone"), Path: "gone.nomad", Err: errors.New("permission denied")}},
		PruneBlocked: "dry run",
		Duration:     1500 * time.Millisecond,
	}
	b, err := json.Marshal(report)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var got struct {
		Revision     string                       `json:"revision"`
		Counts       map[string]int               `json:"counts"`
		Jobs         []map[string]json.RawMessage `json:"jobs"`
		Orphans      []map[string]json.RawMessage `json:"orphans"`
		PruneBlocked string                       `json:"prune_blocked"`
		DurationMS   int64                        `json:"duration_ms"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("Unmarshal %s: %v", b, err)
	}
	if got.Revision != "abc" || got.PruneBlocked != "dry run" || got.DurationMS != 1500 {
		t.Errorf("top level: %s", b)
	}
	wantCounts := map[string]int{
		"in_sync": 0, "create": 0, "update": 2, "drift": 0, "orphans": 1,
		"pruned": 0, "applied": 1, "conflicts": 1, "errors": 2, "planned": 0,
	}
	if fmt.Sprint(got.Counts) != fmt.Sprint(wantCounts) {
		t.Errorf("counts = %v, want %v", got.Counts, wantCounts)
	}
	if len(got.Jobs) != 3 || len(got.Orphans) != 1 {
		t.Fatalf("jobs %d orphans %d in %s", len(got.Jobs), len(got.Orphans), b)
	}
	wantJob := map[string]string{
		"job":                `"web"`,
		"namespace":          `"default"`,
		"path":               `"web.nomad"`,
		"class":              `"update"`,
		"state":              `"applied"`,
		"commit":             `"abc"`,
		"applied_commit":     `"old"`,
		"changes":            `["TaskGroups[g].Count: \"1\" =\u003e \"2\""]`,
		"groups":             `{"g":{"place":1,"stop":0,"in_place":0,"destructive":0,"canary":0}}`,
		"placement_failures": `["a","z"]`,
		"applied":            `{"eval_id":"e1","version":3,"modify_index":99}`,
	}
	for k, want := range wantJob {
		if got := string(got.Jobs[0][k]); got != want {
			t.Errorf("jobs[0].%s = %s, want %s", k, got, want)
		}
	}
	if _, ok := got.Jobs[0]["error"]; ok {
		t.Error("jobs[0] has an error key without an error")
	}
	for i, want := range map[int]string{
		1: `"register default/x at index 4: job changed since it was planned (check-index refused)"`,
		2: `"bad.nomad:3,1-2: Unsupported argument"`,
	} {
		if got := string(got.Jobs[i]["error"]); got != want {
			t.Errorf("jobs[%d].error = %s, want %s", i, got, want)
		}
	}
	if got := string(got.Jobs[1]["state"]); got != `"conflict"` {
		t.Errorf("jobs[1].state = %s, want conflict", got)
	}
	o := got.Orphans[0]
	if string(o["job"]) != `"gone"` || string(o["pruned"]) != "false" || string(o["error"]) != `"permission denied"` {
		t.Errorf("orphan JSON %v", o)
	}
}

func TestReport_JSONEmptyListsAreArrays(t *testing.T) {
	b, err := json.Marshal(&Report{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"jobs":[]`, `"orphans":[]`, `"counts":{`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

func TestWriteText_RendersUpdate(t *testing.T) {
	report := &Report{
		Jobs: []*JobResult{
			{
				Key: key("web"), Path: "apps/web.nomad", Class: Update,
				Diff:    editedDiff(),
				Changes: Changes(editedDiff()),
				Groups:  map[string]GroupCounts{"g": {Place: 1, Destructive: 1}},
			},
			{Key: key("quiet"), Path: "quiet.nomad", Class: InSync},
			{Key: jobs.Key{Namespace: "prod", ID: "db"}, Path: "db.nomad", Class: Create, Diff: &api.JobDiff{Type: "Added"}},
			{Path: "bad.nomad", Class: Failed, Err: errors.New("bad.nomad:3,1-2: Unsupported argument")},
		},
		Orphans: []*Orphan{{Key: key("gone"), Path: "gone.nomad"}},
	}
	var buf bytes.Buffer
	WriteText(&buf, report, false)
	out := buf.String()

	wantLines := []string{
		`+/- Job: "web" (update, apps/web.nomad)`,
		`  +/- Task Group: "g" (1 create, 1 create/destroy update)`,
		`    +/- Count: "1" => "2"`,
		`    +/- Task: "t" (forces create/destroy update)`,
		`      +/- Config {`,
		`        +/- run_for: "1h" => "2h"`,
		`          }`,
		`+   Job: "db" in prod (create, db.nomad)`,
		`!   bad.nomad:3,1-2: Unsupported argument`,
		`-   Job: "gone" (orphan: file gone.nomad gone from git; would be stopped with --prune)`,
		`Summary: 1 in sync, 1 create, 1 update, 0 drift, 1 prune, 1 errors`,
	}
	lines := strings.Split(out, "\n")
	for _, want := range wantLines {
		found := false
		for _, l := range lines {
			if l == want {
				found = true
			}
		}
		if !found {
			t.Errorf("output lacks line %q:\n%s", want, out)
		}
	}
	for _, absent := range []string{"drover.commit", "quiet", "image"} {
		if strings.Contains(out, absent) {
			t.Errorf("output mentions %q:\n%s", absent, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour codes without colour")
	}

	buf.Reset()
	WriteText(&buf, report, true)
	if !strings.Contains(buf.String(), "\x1b[33m+/- Job: \"web\"") {
		t.Errorf("coloured output lacks a yellow update header:\n%q", buf.String())
	}
}

func TestWriteText_OrphanVerbs(t *testing.T) {
	tests := []struct {
		name    string
		report  Report
		verb    string
		summary string
	}{
		{
			name:    "pruned",
			report:  Report{Orphans: []*Orphan{{Key: key("gone"), Path: "gone.nomad", Pruned: true}}},
			verb:    "; stopped)",
			summary: "0 prune, 0 errors",
		},
		{
			name:    "prune failed",
			report:  Report{Orphans: []*Orphan{{Key: key("gone"), Path: "gone.nomad", Err: errors.New("403")}}},
			verb:    "; prune failed: 403)",
			summary: "1 prune, 1 errors",
		},
		{
			name:    "blocked",
			report:  Report{Orphans: []*Orphan{{Key: key("gone"), Path: "gone.nomad"}}, PruneBlocked: "dry run"},
			verb:    "; kept: dry run)",
			summary: "1 prune, 0 errors",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			WriteText(&buf, &tt.report, false)
			if !strings.Contains(buf.String(), tt.verb) || !strings.Contains(buf.String(), tt.summary) {
				t.Errorf("output lacks %q or %q:\n%s", tt.verb, tt.summary, buf.String())
			}
		})
	}
}

// TestOutline_NewJobRendersTheSame: a new job's diff is kept as an outline,
// and the plan prints the same as from the whole diff.
func TestOutline_NewJobRendersTheSame(t *testing.T) {
	full := &api.JobDiff{Type: "Added", ID: "db",
		Fields: []*api.FieldDiff{{Type: "Added", Name: "Priority", New: "50"}},
		TaskGroups: []*api.TaskGroupDiff{{
			Type: "Added", Name: "g", Updates: map[string]uint64{"create": 1},
			Fields: []*api.FieldDiff{{Type: "Added", Name: "Count", New: "1"}},
			Tasks: []*api.TaskDiff{{Type: "Added", Name: "t",
				Fields: []*api.FieldDiff{{Type: "Added", Name: "Driver", New: "docker"}}}},
		}},
	}
	render := func(d *api.JobDiff) string {
		var buf bytes.Buffer
		WriteText(&buf, &Report{Jobs: []*JobResult{{
			Key: key("db"), Path: "db.nomad", Class: Create, Diff: d, Changes: Changes(d),
			Groups: map[string]GroupCounts{"g": {Place: 1}},
		}}}, false)
		return buf.String()
	}
	o := outline(full)
	if got, want := render(o), render(full); got != want {
		t.Errorf("from the outline:\n%s\nfrom the whole diff:\n%s", got, want)
	}
	if len(o.Fields) != 0 || len(o.TaskGroups[0].Fields)+len(o.TaskGroups[0].Tasks) != 0 {
		t.Errorf("outline kept fields: %+v %+v", o.Fields, o.TaskGroups[0])
	}
	if edited := editedDiff(); outline(edited) != edited {
		t.Error("an edited job's diff was outlined; its fields are printed")
	}
}

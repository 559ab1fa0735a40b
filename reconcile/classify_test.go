package reconcile

import (
	"slices"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

func TestClassify(t *testing.T) {
	running := &api.JobListStub{Type: "service", Status: "running"}
	changes := []string{`TaskGroups[g].Count: "1" => "2"`}
	mine := jobs.Ownership{Fingerprint: "fp-git", Instance: DefaultInstance}
	tests := []struct {
		name    string
		stub    *api.JobListStub
		owner   jobs.Ownership
		owned   bool
		changes []string
		// idle: the plan places nothing (every count 0).
		idle bool
		want Class
	}{
		{name: "not in the cluster", stub: nil, changes: nil, want: Create},
		{name: "stopped", stub: &api.JobListStub{Type: "service", Status: "dead", Stop: true}, want: Create},
		{name: "stopped with changes", stub: &api.JobListStub{Type: "service", Status: "running", Stop: true}, changes: changes, want: Create},
		{name: "dead service", stub: &api.JobListStub{Type: "service", Status: "dead"}, want: Create},
		{name: "dead system job", stub: &api.JobListStub{Type: "system", Status: "dead"}, want: Create},
		{name: "dead service with nothing to place", stub: &api.JobListStub{Type: "service", Status: "dead"}, idle: true, want: InSync},
		{name: "dead service with nothing to place, changes", stub: &api.JobListStub{Type: "service", Status: "dead"}, owner: jobs.Ownership{Fingerprint: "old"}, owned: true, changes: changes, idle: true, want: Update},
		{name: "dead batch, no changes", stub: &api.JobListStub{Type: "batch", Status: "dead"}, want: InSync},
		{name: "dead batch, changes", stub: &api.JobListStub{Type: "batch", Status: "dead"}, owner: jobs.Ownership{Fingerprint: "old"}, owned: true, changes: changes, want: Update},
		{name: "no changes", stub: running, owner: mine, owned: true, want: InSync},
		{name: "no changes, not owned", stub: running, want: InSync},
		{name: "owned, fingerprint differs", stub: running, owner: jobs.Ownership{Fingerprint: "fp-old"}, owned: true, changes: changes, want: Update},
		{name: "owned, same fingerprint, changes", stub: running, owner: mine, owned: true, changes: changes, want: Drift},
		{name: "not owned, changes", stub: running, changes: changes, want: Drift},
		{name: "not owned, stale ownership ignored", stub: running, owner: jobs.Ownership{Fingerprint: "fp-old"}, owned: false, changes: changes, want: Drift},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.stub, "fp-git", tt.owner, tt.owned, tt.changes, !tt.idle); got != tt.want {
				t.Errorf("classify = %s, want %s", got, tt.want)
			}
		})
	}
}

// editedDiff is the shape of a plan diff Nomad 1.11 returns for a job whose
// count and task config changed, drover's commit meta included.
func editedDiff() *api.JobDiff {
	return &api.JobDiff{
		Type: "Edited",
		ID:   "web",
		Fields: []*api.FieldDiff{
			{Type: "Edited", Name: "Meta[drover.commit]", Old: "aaa", New: "bbb"},
		},
		TaskGroups: []*api.TaskGroupDiff{{
			Type: "Edited",
			Name: "g",
			Fields: []*api.FieldDiff{
				{Type: "Edited", Name: "Count", Old: "1", New: "2"},
			},
			Tasks: []*api.TaskDiff{{
				Type: "Edited",
				Name: "t",
				Objects: []*api.ObjectDiff{{
					Type: "Edited",
					Name: "Config",
					Fields: []*api.FieldDiff{
						{Type: "None", Name: "image", Old: "busybox", New: "busybox"},
						{Type: "Edited", Name: "run_for", Old: "1h", New: "2h"},
					},
				}},
				Annotations: []string{"forces create/destroy update"},
			}},
		}},
	}
}

func TestChanges(t *testing.T) {
	tests := []struct {
		name string
		diff *api.JobDiff
		want []string
	}{
		{
			name: "edited job",
			diff: editedDiff(),
			want: []string{
				`TaskGroups[g].Count: "1" => "2"`,
				`TaskGroups[g].Tasks[t].Config.run_for: "1h" => "2h"`,
			},
		},
		{
			name: "only drover meta changed",
			diff: &api.JobDiff{Type: "Edited", ID: "web", Fields: []*api.FieldDiff{
				{Type: "Edited", Name: "Meta[drover.commit]", Old: "aaa", New: "bbb"},
				{Type: "Added", Name: "Meta[drover.fingerprint]", New: "fp"},
			}},
			want: nil,
		},
		{
			name: "drover meta as an object",
			diff: &api.JobDiff{Type: "Edited", ID: "web", Objects: []*api.ObjectDiff{{
				Type: "Edited", Name: "Meta", Fields: []*api.FieldDiff{
					{Type: "Edited", Name: "drover.commit", Old: "aaa", New: "bbb"},
					{Type: "Edited", Name: "team", Old: "a", New: "b"},
				},
			}}},
			want: []string{`Meta.team: "a" => "b"`},
		},
		{
			name: "user meta is a change",
			diff: &api.JobDiff{Type: "Edited", ID: "web", Fields: []*api.FieldDiff{
				{Type: "Edited", Name: "Meta[team]", Old: "a", New: "b"},
			}},
			want: []string{`Meta[team]: "a" => "b"`},
		},
		{
			name: "drover-like meta on a task is a change",
			diff: &api.JobDiff{Type: "Edited", ID: "web", TaskGroups: []*api.TaskGroupDiff{{
				Type: "Edited", Name: "g",
				Fields: []*api.FieldDiff{{Type: "Added", Name: "Meta[drover.x]", New: "1"}},
			}}},
			want: []string{`TaskGroups[g].Meta[drover.x]: "" => "1"`},
		},
		{
			name: "group added and removed",
			diff: &api.JobDiff{Type: "Edited", ID: "web", TaskGroups: []*api.TaskGroupDiff{
				{Type: "Added", Name: "new"},
				{Type: "Deleted", Name: "old"},
				{Type: "None", Name: "same"},
			}},
			want: []string{"TaskGroups[new]: added", "TaskGroups[old]: removed"},
		},
		{name: "added job", diff: &api.JobDiff{Type: "Added", ID: "web", Fields: []*api.FieldDiff{{Type: "Added", Name: "Priority", New: "50"}}}, want: nil},
		{name: "no diff", diff: nil, want: nil},
		{name: "unchanged", diff: &api.JobDiff{Type: "None", ID: "web"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Changes(tt.diff)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Changes =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestGroupCounts_String(t *testing.T) {
	tests := []struct {
		c    GroupCounts
		want string
	}{
		{GroupCounts{}, ""},
		{GroupCounts{Place: 1}, "1 create"},
		{GroupCounts{Place: 1, Destructive: 2, InPlace: 3, Stop: 4, Canary: 5}, "1 create, 2 create/destroy update, 3 in-place update, 4 destroy, 5 canary"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

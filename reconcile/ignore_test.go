package reconcile

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// Diffs shaped as Nomad's plan returns them (nomad/structs/diff.go): a
// group's count and meta, a task's env and meta are flattened fields
// ("Count", "Meta[k]", "Env[K]"); a task's config is an object "Config"
// whose fields are the flattened config ("image", "args[1]").

func edited(name, old, new string) *api.FieldDiff {
	return &api.FieldDiff{Type: "Edited", Name: name, Old: old, New: new}
}

func groupDiff(name string, fields []*api.FieldDiff, tasks ...*api.TaskDiff) *api.TaskGroupDiff {
	return &api.TaskGroupDiff{Type: "Edited", Name: name, Fields: fields, Tasks: tasks}
}

func taskDiff(name string, fields []*api.FieldDiff, objects ...*api.ObjectDiff) *api.TaskDiff {
	return &api.TaskDiff{Type: "Edited", Name: name, Fields: fields, Objects: objects}
}

func configDiff(fields ...*api.FieldDiff) *api.ObjectDiff {
	return &api.ObjectDiff{Type: "Edited", Name: "Config", Fields: fields}
}

func jobDiff(fields []*api.FieldDiff, groups ...*api.TaskGroupDiff) *api.JobDiff {
	// Every plan of a drover job shows its own meta moving too.
	fields = append([]*api.FieldDiff{edited("Meta[drover.commit]", "c1", "c2")}, fields...)
	return &api.JobDiff{Type: "Edited", ID: "web", Fields: fields, TaskGroups: groups}
}

func TestFilterDiff(t *testing.T) {
	scaled := foreign{counts: map[string]bool{"web": true}}
	ignoring := func(paths string) foreign {
		p, err := jobs.ParseIgnore(paths)
		if err != nil {
			t.Fatal(err)
		}
		f := jobFile(t, "web", "app:1")
		f.Ignore = p
		return foreignOf(f, false)
	}
	for _, tt := range []struct {
		name         string
		diff         *api.JobDiff
		foreign      foreign
		changes      []string
		counts       []countEdit
		fields       []string
		countChanged bool
	}{
		{
			name:    "count only, scaled group: in sync",
			diff:    jobDiff(nil, groupDiff("web", []*api.FieldDiff{edited("Count", "3", "1")})),
			foreign: scaled,
			counts:  []countEdit{{Group: "web", Git: 1, Cluster: 3}},
		},
		{
			name: "count and image, scaled group: the image only",
			diff: jobDiff(nil, groupDiff("web", []*api.FieldDiff{edited("Count", "3", "1")},
				taskDiff("app", nil, configDiff(edited("image", "app:1", "app:2"))))),
			foreign: scaled,
			changes: []string{`TaskGroups[web].Tasks[app].Config.image: "app:1" => "app:2"`},
			counts:  []countEdit{{Group: "web", Git: 1, Cluster: 3}},
		},
		{
			name: "a group without scaling keeps its count change",
			diff: jobDiff(nil,
				groupDiff("web", []*api.FieldDiff{edited("Count", "3", "1")}),
				groupDiff("worker", []*api.FieldDiff{edited("Count", "1", "2")})),
			foreign:      scaled,
			changes:      []string{`TaskGroups[worker].Count: "1" => "2"`},
			counts:       []countEdit{{Group: "web", Git: 1, Cluster: 3}},
			countChanged: true,
		},
		{
			name:         "nothing foreign: the count is a change",
			diff:         jobDiff(nil, groupDiff("web", []*api.FieldDiff{edited("Count", "3", "1")})),
			changes:      []string{`TaskGroups[web].Count: "3" => "1"`},
			countChanged: true,
		},
		{
			name:    "ignored count by drover.ignore, any group",
			diff:    jobDiff(nil, groupDiff("g", []*api.FieldDiff{edited("Count", "2", "1")})),
			foreign: ignoring("group.*.count"),
			counts:  []countEdit{{Group: "g", Git: 1, Cluster: 2}},
		},
		{
			name: "ignored job meta, as fields and as an object",
			diff: &api.JobDiff{Type: "Edited", ID: "web",
				Fields: []*api.FieldDiff{edited("Meta[team]", "payments", "web"), edited("Meta[owner]", "a", "b")},
				Objects: []*api.ObjectDiff{{Type: "Edited", Name: "Meta", Fields: []*api.FieldDiff{
					edited("team", "payments", "web"),
				}}},
			},
			foreign: ignoring("meta.team"),
			changes: []string{`Meta[owner]: "a" => "b"`},
			fields:  []string{"Meta[team]", "Meta.team"},
		},
		{
			name: "env through a wildcard, config key with what is nested under it, task meta of one task",
			diff: jobDiff(nil, groupDiff("g", []*api.FieldDiff{edited("Meta[version]", "1", "2")},
				taskDiff("t", []*api.FieldDiff{edited("Env[OWNER]", "tool", ""), edited("Env[LEVEL]", "debug", "info"), edited("Meta[rev]", "9", "8")},
					configDiff(edited("args[1]", "x", "y"), edited("argsx", "1", "2"))),
				taskDiff("sidecar", []*api.FieldDiff{edited("Meta[rev]", "9", "8")}))),
			foreign: ignoring("group.*.task.*.env.OWNER, group.g.task.t.config.args, group.g.task.t.meta.rev, group.g.meta.version"),
			changes: []string{
				`TaskGroups[g].Tasks[t].Env[LEVEL]: "debug" => "info"`,
				`TaskGroups[g].Tasks[t].Config.argsx: "1" => "2"`,
				`TaskGroups[g].Tasks[sidecar].Meta[rev]: "9" => "8"`,
			},
			fields: []string{"TaskGroups[g].Meta[version]", "TaskGroups[g].Tasks[t].Env[OWNER]", "TaskGroups[g].Tasks[t].Meta[rev]",
				"TaskGroups[g].Tasks[t].Config.args[1]"},
		},
		{
			name:    "a new job is left as it is",
			diff:    &api.JobDiff{Type: "Added", ID: "web", TaskGroups: []*api.TaskGroupDiff{{Type: "Added", Name: "web"}}},
			foreign: scaled,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := json.Marshal(tt.diff)
			got := filterDiff(tt.diff, tt.foreign)
			if after, _ := json.Marshal(tt.diff); string(before) != string(after) {
				t.Fatal("filterDiff modified the plan's diff")
			}
			if c := Changes(got.diff); !slices.Equal(c, tt.changes) {
				t.Errorf("changes = %q\nwant %q", c, tt.changes)
			}
			if !reflect.DeepEqual(got.counts, tt.counts) {
				t.Errorf("counts = %+v, want %+v", got.counts, tt.counts)
			}
			if !slices.Equal(got.fields, tt.fields) {
				t.Errorf("fields = %q, want %q", got.fields, tt.fields)
			}
			if got.countChanged != tt.countChanged {
				t.Errorf("countChanged = %v, want %v", got.countChanged, tt.countChanged)
			}
			if len(tt.changes) == 0 && tt.diff.Type == "Edited" && anyGroupChange(got.diff.TaskGroups) {
				t.Errorf("groups %+v with nothing left, want each None", got.diff.TaskGroups)
			}
		})
	}
}

func TestForeignOf(t *testing.T) {
	off := false
	f := jobFile(t, "web", "app:1")
	f.Job.TaskGroups = []*api.TaskGroup{
		{Name: ptr("scaled"), Scaling: &api.ScalingPolicy{Max: ptr(int64(5))}},
		{Name: ptr("off"), Scaling: &api.ScalingPolicy{Enabled: &off, Max: ptr(int64(5))}},
		{Name: ptr("plain")},
	}
	if got := foreignOf(f, false).counts; !reflect.DeepEqual(got, map[string]bool{"scaled": true}) {
		t.Errorf("counts = %v; want only the group with an enabled scaling block", got)
	}
	f.Ignore = []jobs.IgnorePath{{Kind: jobs.IgnoreCount, Group: "plain"}, {Kind: jobs.IgnoreJobMeta, Key: "team"}}
	o := foreignOf(f, false)
	if !reflect.DeepEqual(o.counts, map[string]bool{"scaled": true, "plain": true}) || len(o.fields) != 1 {
		t.Errorf("foreign = %+v; want scaled and plain counts, the meta field", o)
	}
	if o := foreignOf(f, true); len(o.counts) != 0 || len(o.fields) != 1 {
		t.Errorf("with reset counts: %+v; want no count foreign, the meta field still", o)
	}
}

func TestWithoutForeign(t *testing.T) {
	// As Nomad plans git's count 1 against 3 allocations, and 2 against 4
	// (a spec change updates every allocation it keeps).
	groups := map[string]GroupCounts{
		"down":  {Stop: 2, InPlace: 1},
		"up":    {Place: 2, InPlace: 2},
		"other": {Place: 1},
	}
	counts := []countEdit{{Group: "down", Git: 1, Cluster: 3}, {Group: "up", Git: 4, Cluster: 2}}
	for _, tt := range []struct {
		name    string
		filt    filtered
		changes []string
		want    map[string]GroupCounts
	}{
		{
			name: "nothing else differs: no allocation moves, but a replacement",
			filt: filtered{counts: counts},
			want: map[string]GroupCounts{"down": {}, "up": {}, "other": {Place: 1}},
		},
		{
			name:    "something else differs: the register's updates stay",
			filt:    filtered{counts: counts},
			changes: []string{`TaskGroups[down].Tasks[t].Config.image: "a" => "b"`},
			want:    map[string]GroupCounts{"down": {InPlace: 1}, "up": {InPlace: 2}, "other": {Place: 1}},
		},
		{
			name: "only ignored fields differ",
			filt: filtered{fields: []string{"TaskGroups[down].Tasks[t].Env[OWNER]"}},
			want: map[string]GroupCounts{"down": {Stop: 2}, "up": {Place: 2}, "other": {Place: 1}},
		},
		{
			name: "nothing dropped: the plan's counts",
			want: groups,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := withoutForeign(groups, tt.filt, tt.changes); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if groups["down"] != (GroupCounts{Stop: 2, InPlace: 1}) {
		t.Error("the plan's counts were modified")
	}
}

func TestClusterValues(t *testing.T) {
	git := &api.Job{
		ID:   ptr("web"),
		Meta: map[string]string{"team": "web", "drover.commit": "c2"},
		TaskGroups: []*api.TaskGroup{
			{Name: ptr("g"), Count: ptr(1), Meta: map[string]string{"v": "git"}, Tasks: []*api.Task{{
				Name:   "t",
				Env:    map[string]string{"OWNER": "git", "KEEP": "git"},
				Config: map[string]any{"image": "app:2", "args": []any{"a"}},
			}}},
			{Name: ptr("new"), Count: ptr(2)},
		},
	}
	cluster := &api.Job{
		ID:   ptr("web"),
		Meta: map[string]string{"drover.commit": "c1"},
		TaskGroups: []*api.TaskGroup{{Name: ptr("g"), Count: ptr(4), Meta: map[string]string{"v": "tool"}, Tasks: []*api.Task{{
			Name:   "t",
			Env:    map[string]string{"OWNER": "tool", "KEEP": "tool"},
			Config: map[string]any{"image": "app:1", "args": []any{"b", "c"}},
		}}}},
	}
	paths, err := jobs.ParseIgnore("meta.team, group.*.meta.v, group.g.task.t.env.OWNER, group.g.task.t.config.args")
	if err != nil {
		t.Fatal(err)
	}
	o := foreign{counts: map[string]bool{"g": true, "new": true}, fields: paths}
	before, _ := json.Marshal(git)

	got, err := clusterValues(git, cluster, o, false)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(git); string(before) != string(after) {
		t.Fatal("clusterValues modified git's job")
	}
	g, task := got.TaskGroups[0], got.TaskGroups[0].Tasks[0]
	if _, ok := got.Meta["team"]; ok || got.Meta["drover.commit"] != "c2" {
		t.Errorf("job meta %v; want team removed (the cluster has none) and drover's meta git's", got.Meta)
	}
	if g.Meta["v"] != "tool" || task.Env["OWNER"] != "tool" || task.Env["KEEP"] != "git" {
		t.Errorf("group meta %v, env %v; want the ignored keys the cluster's, the others git's", g.Meta, task.Env)
	}
	if task.Config["image"] != "app:2" || !reflect.DeepEqual(task.Config["args"], []any{"b", "c"}) {
		t.Errorf("config %v; want git's image and the cluster's args", task.Config)
	}
	if *g.Count != 1 || *got.TaskGroups[1].Count != 2 {
		t.Errorf("counts %d, %d; want git's without copyCounts", *g.Count, *got.TaskGroups[1].Count)
	}

	got, err = clusterValues(git, cluster, o, true)
	if err != nil {
		t.Fatal(err)
	}
	if *got.TaskGroups[0].Count != 4 || *got.TaskGroups[1].Count != 2 {
		t.Errorf("counts %d, %d; want the cluster's 4, and git's for a group the cluster lacks",
			*got.TaskGroups[0].Count, *got.TaskGroups[1].Count)
	}
}

// scaledFile is jobFile with an enabled scaling block on its group.
func scaledFile(t *testing.T, id, image string) *jobs.File {
	t.Helper()
	f := jobFile(t, id, image)
	f.Job.TaskGroups[0].Scaling = &api.ScalingPolicy{Min: ptr(int64(1)), Max: ptr(int64(5))}
	fp, err := jobs.Fingerprint(f.Job)
	if err != nil {
		t.Fatal(err)
	}
	f.Fingerprint = fp
	return f
}

func countPlan(index uint64, cluster, git string, extra ...*api.TaskDiff) *api.JobPlanResponse {
	return &api.JobPlanResponse{
		JobModifyIndex: index,
		Diff:           jobDiff(nil, groupDiff("g", []*api.FieldDiff{edited("Count", cluster, git)}, extra...)),
		Annotations: &api.PlanAnnotations{DesiredTGUpdates: map[string]*api.DesiredUpdates{
			"g": {Stop: 2, InPlaceUpdate: 1},
		}},
	}
}

// TestSync_AutoscaledCountIsInSyncAndRemembered: a count the autoscaler
// moved is in sync, remembered by the plan memo (no plan next cycle), and
// registers nothing.
func TestSync_AutoscaledCountIsInSyncAndRemembered(t *testing.T) {
	f := scaledFile(t, "web", "app:1")
	c := &fakeCluster{
		stubs: []*api.JobListStub{stub("web", 10, owned(f.Path, "c1", f.Fingerprint))},
		plans: map[string]*api.JobPlanResponse{"web": countPlan(10, "3", "1")},
	}
	set := &jobs.Set{Revision: "c1", Files: []*jobs.File{f}}
	e := newEngine(c, Options{Apply: true})
	planned, report := syncTwice(t, e, c, set, nil)
	if len(planned) != 0 {
		t.Errorf("second cycle planned %q; an in-sync autoscaled job should be remembered", planned)
	}
	if r := report.Jobs[0]; r.Class != InSync || len(r.Changes) != 0 {
		t.Errorf("class %s changes %q; want in sync", r.Class, r.Changes)
	}
	if n := len(c.registrations()); n != 0 {
		t.Errorf("%d registers for a count the autoscaler owns", n)
	}
	// The remembered verdict does not hide a real change in git.
	changed := scaledFile(t, "web", "app:2")
	c.plans["web"] = countPlan(10, "3", "1", taskDiff("t", nil, configDiff(edited("image", "app:1", "app:2"))))
	c.mu.Lock()
	c.planned = nil
	c.mu.Unlock()
	set.Files[0] = changed
	report, err := e.Sync(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	planned = c.plannedIDs()
	if !slices.Equal(planned, []string{"web"}) || report.Jobs[0].Class != Update || len(c.registrations()["web"]) != 1 {
		t.Errorf("after a spec change: planned %q, class %s, registers %d; want it planned and registered",
			planned, report.Jobs[0].Class, len(c.registrations()["web"]))
	}

	// With --reset-counts the same plan is drift, and git's count is
	// registered.
	set.Files[0] = f
	c2 := &fakeCluster{stubs: c.stubs, plans: map[string]*api.JobPlanResponse{"web": countPlan(10, "3", "1")}}
	report, err = newEngine(c2, Options{Apply: true, ResetCounts: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	regs := c2.registrations()["web"]
	if report.Jobs[0].Class != Drift || len(regs) != 1 || regs[0].opts.PreserveCounts || *regs[0].job.TaskGroups[0].Count != 1 {
		t.Errorf("reset counts: class %s, registers %+v; want drift registered with git's count", report.Jobs[0].Class, regs)
	}
}

// TestSync_SpecChangeOfAutoscaledJobPreservesCounts: a real change of a
// job with a scaled group is registered with PreserveCounts, and no read
// of the cluster's job is needed.
func TestSync_SpecChangeOfAutoscaledJobPreservesCounts(t *testing.T) {
	f := scaledFile(t, "web", "app:2")
	c := &fakeCluster{
		stubs: []*api.JobListStub{stub("web", 10, owned(f.Path, "c1", "fp-of-app:1"))},
		plans: map[string]*api.JobPlanResponse{"web": countPlan(10, "3", "1",
			taskDiff("t", nil, configDiff(edited("image", "app:1", "app:2"))))},
	}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), &jobs.Set{Revision: "c2", Files: []*jobs.File{f}})
	if err != nil {
		t.Fatal(err)
	}
	r := report.Jobs[0]
	if r.Class != Update || !slices.Equal(r.Changes, []string{`TaskGroups[g].Tasks[t].Config.image: "app:1" => "app:2"`}) {
		t.Errorf("class %s changes %q; want an update of the image only", r.Class, r.Changes)
	}
	if r.Groups["g"] != (GroupCounts{InPlace: 1}) {
		t.Errorf("groups %+v; want the update without the stops of git's count, which the register does not do", r.Groups)
	}
	regs := c.registrations()["web"]
	if len(regs) != 1 || !regs[0].opts.PreserveCounts || !regs[0].opts.EnforceIndex {
		t.Fatalf("registers %+v; want one with PreserveCounts and check-index", regs)
	}
}

// TestSync_CountChangeOfAnotherGroupCopiesTheScaledCount: when git changes
// the count of a group without scaling, PreserveCounts would undo it; the
// scaled group's count is copied from the cluster's job instead, and so are
// drover.ignore fields.
func TestSync_CountChangeOfAnotherGroupCopiesTheScaledCount(t *testing.T) {
	f := scaledFile(t, "web", "app:1")
	f.Job.TaskGroups = append(f.Job.TaskGroups, &api.TaskGroup{Name: ptr("worker"), Count: ptr(2),
		Tasks: []*api.Task{{Name: "w", Env: map[string]string{"OWNER": "git"}}}})
	f.Ignore = []jobs.IgnorePath{{Kind: jobs.IgnoreTaskEnv, Group: "worker", Task: "*", Key: "OWNER"}}
	c := &fakeCluster{
		stubs: []*api.JobListStub{stub("web", 10, owned(f.Path, "c1", "fp-before"))},
		plans: map[string]*api.JobPlanResponse{"web": {JobModifyIndex: 10, Diff: jobDiff(nil,
			groupDiff("g", []*api.FieldDiff{edited("Count", "4", "1")}),
			groupDiff("worker", []*api.FieldDiff{edited("Count", "1", "2")},
				taskDiff("w", []*api.FieldDiff{edited("Env[OWNER]", "tool", "git")})))}},
		current: map[string]*api.Job{"web": {ID: ptr("web"), TaskGroups: []*api.TaskGroup{
			{Name: ptr("g"), Count: ptr(4)},
			{Name: ptr("worker"), Count: ptr(1), Tasks: []*api.Task{{Name: "w", Env: map[string]string{"OWNER": "tool"}}}},
		}}},
	}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), &jobs.Set{Revision: "c2", Files: []*jobs.File{f}})
	if err != nil {
		t.Fatal(err)
	}
	if r := report.Jobs[0]; r.Class != Update || !slices.Equal(r.Changes, []string{`TaskGroups[worker].Count: "1" => "2"`}) {
		t.Errorf("class %s changes %q; want the worker's count only", r.Class, r.Changes)
	}
	regs := c.registrations()["web"]
	if len(regs) != 1 || regs[0].opts.PreserveCounts {
		t.Fatalf("registers %+v; want one without PreserveCounts", regs)
	}
	job := regs[0].job
	if *job.TaskGroups[0].Count != 4 || *job.TaskGroups[1].Count != 2 || job.TaskGroups[1].Tasks[0].Env["OWNER"] != "tool" {
		t.Errorf("registered counts %d, %d, env %v; want the cluster's 4, git's 2 and the cluster's OWNER",
			*job.TaskGroups[0].Count, *job.TaskGroups[1].Count, job.TaskGroups[1].Tasks[0].Env)
	}
	if *f.Job.TaskGroups[0].Count != 1 {
		t.Error("the parsed job was modified")
	}
}

// TestSync_GitCountChangeOfScaledGroupWaitsForResetCounts: a commit that
// changes only the count of a scaled group registers nothing; with
// ResetCounts it is an update registered with git's count.
func TestSync_GitCountChangeOfScaledGroupWaitsForResetCounts(t *testing.T) {
	f := scaledFile(t, "web", "app:1")
	f.Job.TaskGroups[0].Count = ptr(2)
	stubs := []*api.JobListStub{stub("web", 10, owned(f.Path, "c1", "fp-with-count-1"))}
	plans := map[string]*api.JobPlanResponse{"web": countPlan(10, "1", "2")}
	set := &jobs.Set{Revision: "c2", Files: []*jobs.File{f}}

	c := &fakeCluster{stubs: stubs, plans: plans}
	report, err := newEngine(c, Options{Apply: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	if report.Jobs[0].Class != InSync || len(c.registrations()) != 0 {
		t.Errorf("class %s, %d registers; want in sync and nothing registered", report.Jobs[0].Class, len(c.registrations()))
	}

	c = &fakeCluster{stubs: stubs, plans: plans}
	report, err = newEngine(c, Options{Apply: true, ResetCounts: true}).Sync(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	regs := c.registrations()["web"]
	if report.Jobs[0].Class != Update || len(regs) != 1 || regs[0].opts.PreserveCounts || *regs[0].job.TaskGroups[0].Count != 2 {
		t.Errorf("reset counts: class %s, registers %+v; want an update registered with git's count 2", report.Jobs[0].Class, regs)
	}
}

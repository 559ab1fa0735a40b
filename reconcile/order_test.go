package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// dependent is the job file for id with drover.depends_on set to deps.
func dependent(t *testing.T, id, image, deps string) *jobs.File {
	t.Helper()
	f := jobFile(t, id, image)
	f.Job.Meta = map[string]string{jobs.MetaDependsOn: deps}
	fp, err := jobs.Fingerprint(f.Job)
	if err != nil {
		t.Fatal(err)
	}
	f.Fingerprint = fp
	return f
}

// inSyncStub is the cluster's copy of f as drover registered it.
func inSyncStub(f *jobs.File, index uint64) *api.JobListStub {
	return stub(*f.Job.ID, index, owned(f.Path, "c1", f.Fingerprint))
}

func syncSet(t *testing.T, c *fakeCluster, opts Options, files ...*jobs.File) map[string]*JobResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	report, err := newEngine(c, opts).Sync(ctx, &jobs.Set{Revision: "c1", Files: files})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return resultsByID(report)
}

func TestSync_DependentHeldWhileItsDependencyIsRegisteredInTheSameCycle(t *testing.T) {
	c := &fakeCluster{}
	e := newEngine(c, Options{Apply: true})
	a, b := dependent(t, "a", "a:1", "b"), jobFile(t, "b", "b:1")
	set := &jobs.Set{Revision: "c1", Files: []*jobs.File{a, b}}
	report, err := e.Sync(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	got := resultsByID(report)
	if got["b"].Applied == nil {
		t.Fatalf("b = %+v; want the dependency registered", got["b"])
	}
	want := "waiting for dependency default/b: registered in this cycle, its rollout must be healthy first"
	if got["a"].Applied != nil || got["a"].Hold != want || got["a"].State() != "held" {
		t.Errorf("a: applied %v, hold %q; want held with %q", got["a"].Applied, got["a"].Hold, want)
	}
	if regs := c.registrations(); len(regs["a"]) != 0 {
		t.Errorf("a was registered in the cycle that registered its dependency")
	}
	if deps := got["a"].DependsOn; len(deps) != 1 || deps[0] != (jobs.Key{Namespace: "default", ID: "b"}) {
		t.Errorf("a.DependsOn = %v", deps)
	}

	// Next cycle: b is in sync at the index its register returned, and
	// known so from the memo; a was held, not memoized, so it is planned
	// again and registered.
	c.stubs = []*api.JobListStub{inSyncStub(b, 100)}
	report, err = e.Sync(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	got = resultsByID(report)
	if got["b"].Class != InSync || got["b"].Planned {
		t.Errorf("b = %+v; want in sync from the memo", got["b"])
	}
	if got["a"].Applied == nil || got["a"].Hold != "" {
		t.Errorf("a: applied %v, hold %q; want registered once its dependency is in sync", got["a"].Applied, got["a"].Hold)
	}
}

// TestSync_DependentRegistersOnlyAfterItsDependencysResult: with one slot,
// a is planned first and must give its slot to b and wait for b's result
// before it registers; holding the slot while waiting would deadlock.
func TestSync_DependentRegistersOnlyAfterItsDependencysResult(t *testing.T) {
	a, b := dependent(t, "a", "a:1", "default/b"), jobFile(t, "b", "b:1")
	var mu sync.Mutex
	var calls []string
	c := &fakeCluster{
		stubs:      []*api.JobListStub{inSyncStub(b, 5)},
		onPlan:     func(j *api.Job) { mu.Lock(); calls = append(calls, "plan "+*j.ID); mu.Unlock() },
		onRegister: func(j *api.Job) { mu.Lock(); calls = append(calls, "register "+*j.ID); mu.Unlock() },
	}
	got := syncSet(t, c, Options{Apply: true, Parallel: 1, PlanAlways: true}, a, b)
	if got["a"].Applied == nil || got["a"].Hold != "" {
		t.Errorf("a: applied %v, hold %q; want registered, its dependency is in sync", got["a"].Applied, got["a"].Hold)
	}
	if want := "plan a,plan b,register a"; strings.Join(calls, ",") != want {
		t.Errorf("calls %v; want %s", calls, want)
	}
}

// TestSync_WaitingDependentLeavesItsSlotToIndependentJobs: with two slots,
// a waits for b, and b's plan only returns once c has been planned: a
// waiting dependent holding a slot would starve c.
func TestSync_WaitingDependentLeavesItsSlotToIndependentJobs(t *testing.T) {
	a, b, c := dependent(t, "a", "a:1", "b"), jobFile(t, "b", "b:1"), jobFile(t, "c", "c:1")
	cPlanned := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cluster := &fakeCluster{onPlan: func(j *api.Job) {
		switch *j.ID {
		case "c":
			close(cPlanned)
		case "b":
			select {
			case <-cPlanned:
			case <-ctx.Done():
			}
		}
	}}
	report, err := newEngine(cluster, Options{Apply: true, Parallel: 2}).Sync(ctx, &jobs.Set{Revision: "c1", Files: []*jobs.File{a, b, c}})
	if err != nil || ctx.Err() != nil {
		t.Fatalf("Sync: %v, %v; want it done without waiting out the test's bound", err, ctx.Err())
	}
	got := resultsByID(report)
	if got["b"].Applied == nil || got["c"].Applied == nil || got["a"].Applied != nil || got["a"].Hold == "" {
		t.Errorf("a %+v, b %+v, c %+v; want b and c registered, a held", got["a"], got["b"], got["c"])
	}
}

func TestSync_DependentHeldWhenItsDependencyIsNotSettled(t *testing.T) {
	watched := jobFile(t, "b", "b:1")
	watched.Hold = "rollout of commit c0ffee (version 3) is being watched"
	rolledBack := jobFile(t, "b", "b:0")
	rolledBack.Commit = "0123456789abcdef"
	tests := []struct {
		name    string
		b       *jobs.File
		cluster func(b *jobs.File) *fakeCluster
		want    string
	}{
		{"register failed", jobFile(t, "b", "b:1"),
			func(*jobs.File) *fakeCluster {
				return &fakeCluster{registerErr: map[string]error{"b": unexpectedResponse(t, 400, "bad job")}}
			},
			"dependency default/b failed: register default/b"},
		{"plan failed", jobFile(t, "b", "b:1"),
			func(*jobs.File) *fakeCluster {
				return &fakeCluster{planErr: map[string]error{"b": unexpectedResponse(t, 400, "bad job")}}
			},
			"dependency default/b failed: plan default/b"},
		{"rollout being watched", watched,
			func(b *jobs.File) *fakeCluster { return &fakeCluster{stubs: []*api.JobListStub{inSyncStub(b, 5)}} },
			"dependency default/b is held: rollout of commit c0ffee (version 3) is being watched"},
		{"rolled back", rolledBack,
			func(b *jobs.File) *fakeCluster {
				return &fakeCluster{stubs: []*api.JobListStub{stub("b", 5, owned(b.Path, b.Commit, b.Fingerprint))}}
			},
			"dependency default/b runs its last good commit 0123456789ab: the spec in git is quarantined after its rollout failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cluster(tc.b)
			got := syncSet(t, c, Options{Apply: true}, dependent(t, "a", "a:1", "b"), tc.b, jobFile(t, "c", "c:1"))
			if a := got["a"]; a.Applied != nil || !strings.HasPrefix(a.Hold, tc.want) || a.Err != nil {
				t.Errorf("a: applied %v, hold %q, err %v; want held with %q", a.Applied, a.Hold, a.Err, tc.want)
			}
			if len(c.registrations()["a"]) != 0 {
				t.Error("a was registered")
			}
			if got["c"].Applied == nil {
				t.Error("the independent job c was not registered")
			}
		})
	}
}

func TestSync_UnmeetableDependenciesFailOnlyTheirJobs(t *testing.T) {
	unknown := dependent(t, "u", "u:1", "infra/nope, b")
	x, y := dependent(t, "x", "x:1", "y"), dependent(t, "y", "y:1", "default/x")
	self := dependent(t, "s", "s:1", "s")
	bad := dependent(t, "r", "r:1", "a/b/c")
	onCycle := dependent(t, "d", "d:1", "x")
	b := jobFile(t, "b", "b:1")
	c := &fakeCluster{stubs: []*api.JobListStub{
		// u is in the cluster as drover registered it: still wanted,
		// never pruned for its error.
		inSyncStub(unknown, 3), inSyncStub(b, 4),
	}}
	got := syncSet(t, c, Options{Apply: true, Prune: true}, unknown, x, y, self, bad, onCycle, b, jobFile(t, "c", "c:1"))
	wantErr := map[string]string{
		"u": "u.nomad: meta drover.depends_on: unknown dependency infra/nope: no job file in git declares it",
		"x": "x.nomad: meta drover.depends_on: dependency cycle default/x → default/y → default/x",
		"y": "y.nomad: meta drover.depends_on: dependency cycle default/y → default/x → default/y",
		"s": "s.nomad: meta drover.depends_on: dependency cycle default/s → default/s",
		"r": `r.nomad: meta drover.depends_on: "a/b/c" is not a job: a job ID has no slash; want name or namespace/name`,
	}
	for id, want := range wantErr {
		if r := got[id]; r.Err == nil || r.Err.Error() != want || r.Class != Failed || r.Namespace != "default" {
			t.Errorf("%s: class %s err %v; want failed with %q", id, r.Class, r.Err, want)
		}
	}
	if d := got["d"]; d.Err != nil || !strings.HasPrefix(d.Hold, "dependency default/x failed: x.nomad: meta drover.depends_on: dependency cycle") {
		t.Errorf("d: err %v hold %q; want held behind its failed dependency", d.Err, d.Hold)
	}
	regs := c.registrations()
	for id := range wantErr {
		if len(regs[id]) != 0 {
			t.Errorf("%s was registered", id)
		}
	}
	if len(regs["c"]) != 1 || len(regs["d"]) != 0 {
		t.Errorf("registered %v; want only the independent job c", regs)
	}
	if len(c.deregistered) != 0 {
		t.Errorf("pruned %v; a job whose dependencies fail is still in git", c.deregistered)
	}
	for _, id := range c.plannedIDs() {
		if _, failed := wantErr[id]; failed {
			t.Errorf("%s was planned; a job that cannot be ordered is not", id)
		}
	}
}

// TestSync_MissingDependencyWhileAFileIsBrokenHolds: the broken file may be
// the dependency, so its dependent is held, not failed.
func TestSync_MissingDependencyWhileAFileIsBrokenHolds(t *testing.T) {
	c := &fakeCluster{}
	got := syncSet(t, c, Options{Apply: true}, dependent(t, "a", "a:1", "vault"), brokenFile("vault.nomad"))
	a := got["a"]
	if a.Err != nil || a.Applied != nil || !strings.Contains(a.Hold, "dependency default/vault is not among the jobs loaded from git") {
		t.Errorf("a: err %v applied %v hold %q; want held", a.Err, a.Applied, a.Hold)
	}
}

// TestSync_DryRunSaysTheDependentWouldWait: `drover plan` shows the order.
func TestSync_DryRunSaysTheDependentWouldWait(t *testing.T) {
	c := &fakeCluster{}
	report, err := newEngine(c, Options{}).Sync(context.Background(),
		&jobs.Set{Revision: "c1", Files: []*jobs.File{dependent(t, "a", "a:1", "b"), jobFile(t, "b", "b:1")}})
	if err != nil {
		t.Fatal(err)
	}
	a := resultsByID(report)["a"]
	if want := "waiting for dependency default/b: it differs from git (create) and is registered first"; a.Hold != want {
		t.Errorf("hold = %q, want %q", a.Hold, want)
	}
	if !report.Pending() {
		t.Error("Pending() = false; b is still to create")
	}
	var out struct {
		Jobs []struct {
			Job       string   `json:"job"`
			Held      string   `json:"held"`
			DependsOn []string `json:"depends_on"`
		} `json:"jobs"`
	}
	b, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if j := out.Jobs[0]; j.Job != "a" || len(j.DependsOn) != 1 || j.DependsOn[0] != "default/b" || j.Held != a.Hold {
		t.Errorf("JSON of a = %+v", j)
	}
	var text strings.Builder
	WriteText(&text, report, false)
	if !strings.Contains(text.String(), "registered after: default/b") || !strings.Contains(text.String(), "held, not applied: waiting for dependency default/b") {
		t.Errorf("text output lacks the order:\n%s", text.String())
	}
}

// TestSync_RollbackIsNotHeldForItsDependencies: a last good spec put back
// registers even when the jobs it names are not settled, or not in git.
func TestSync_RollbackIsNotHeldForItsDependencies(t *testing.T) {
	b := jobFile(t, "b", "b:1")
	b.Hold = "rollout of commit c0ffee (version 3) is being watched"
	back := dependent(t, "a", "a:0", "b, gone")
	back.Commit = "0123456789abcdef"
	c := &fakeCluster{stubs: []*api.JobListStub{inSyncStub(b, 5)}, plans: map[string]*api.JobPlanResponse{"a": changedPlan("a", 7)}}
	got := syncSet(t, c, Options{Apply: true}, back, b)
	if a := got["a"]; a.Applied == nil || a.Hold != "" || a.Err != nil {
		t.Errorf("a: applied %v, hold %q, err %v; want the rollback registered", a.Applied, a.Hold, a.Err)
	}
}

// BenchmarkOrderOf is the per-cycle cost of reading and checking the
// dependencies of 1000 jobs: none at all, and each depending on the one
// before (a 1000-long chain, the worst case of the cycle search).
func BenchmarkOrderOf(b *testing.B) {
	for _, chain := range []bool{false, true} {
		set := &jobs.Set{Revision: "c1"}
		for i := 0; i < 1000; i++ {
			id := fmt.Sprintf("j%04d", i)
			f := jobFile(b, id, "img:1")
			if chain && i > 0 {
				f.Job.Meta = map[string]string{jobs.MetaDependsOn: fmt.Sprintf("j%04d", i-1)}
			}
			set.Files = append(set.Files, f)
		}
		name := "independent"
		if chain {
			name = "chain"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if o := orderOf(set); o.errs[999] != nil {
					b.Fatal(o.errs[999])
				}
			}
		})
	}
}

func TestCycles(t *testing.T) {
	tests := []struct {
		name string
		deps [][]int
		want [][]int
	}{
		{"none", [][]int{{1}, {2}, nil}, [][]int{nil, nil, nil}},
		{"three long, and a node leading into it", [][]int{{1}, {2}, {0}, {0}},
			[][]int{{0, 1, 2, 0}, {1, 2, 0, 1}, {2, 0, 1, 2}, nil}},
		{"the shortest way back", [][]int{{1, 2}, {2}, {0}}, [][]int{{0, 2, 0}, {1, 2, 0, 1}, {2, 0, 2}}},
		{"self", [][]int{{0}, {0}}, [][]int{{0, 0}, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cycles(tc.deps)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("cycles(%v) = %v, want %v", tc.deps, got, tc.want)
			}
		})
	}
}

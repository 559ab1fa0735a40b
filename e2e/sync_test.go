package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

// TestApply_FreshRepoRunsHealthyAndPlansClean: two jobs applied from a new
// repo run with passing Consul checks, carry drover's meta, and a plan right
// after finds nothing to do.
func TestApply_FreshRepoRunsHealthyAndPlansClean(t *testing.T) {
	r := newRepo(t)
	sha := r.commit("two jobs", map[string]string{
		"web/fresh-a.nomad.hcl": helloJob("fresh-a", "1.0.0"),
		"fresh-b.nomad":         helloJob("fresh-b", "1.0.0"),
		"README.md":             "not a job",
	})

	res := drover(t, append([]string{"apply"}, syncArgs(r, "fresh")...)...)
	if res.code != 0 {
		t.Fatalf("apply exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if n := len(res.events("job.applied")); n != 2 {
		t.Fatalf("want 2 job.applied events, got %d:\n%s", n, res.stderr)
	}
	for _, id := range []string{"fresh-a", "fresh-b"} {
		waitHealthy(t, id, 1)
		meta := nomadJob(t, id).Meta
		if meta["drover.managed"] != "true" || meta["drover.commit"] != sha || meta["drover.instance"] != "fresh" {
			t.Errorf("%s meta = %v, want managed by instance fresh at %s", id, meta, sha)
		}
	}
	if p := nomadJob(t, "fresh-a").Meta["drover.path"]; p != "web/fresh-a.nomad.hcl" {
		t.Errorf("drover.path = %q", p)
	}
	sub, _, err := env.cluster.Nomad().Jobs().Submission("fresh-a", 0, nil)
	if err != nil || !strings.Contains(sub.Source, `job "fresh-a"`) || sub.Format != "hcl2" {
		t.Errorf("submission of fresh-a = %+v, %v; want the HCL from git", sub, err)
	}

	plan := drover(t, append([]string{"plan"}, syncArgs(r, "fresh")...)...)
	if plan.code != 0 {
		t.Fatalf("plan after apply: exit %d, want 0\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}
	if !strings.Contains(plan.stdout, "2 in sync, 0 create, 0 update, 0 drift, 0 prune, 0 errors") {
		t.Errorf("plan summary:\n%s", plan.stdout)
	}
}

// TestApply_CommitReregistersOnlyTheChangedJob: a commit touching one job
// moves only that job; a commit touching neither moves none.
func TestApply_CommitReregistersOnlyTheChangedJob(t *testing.T) {
	r := newRepo(t)
	first := r.commit("two jobs", map[string]string{
		"one-a.nomad.hcl": helloJob("one-a", "1.0.0"),
		"one-b.nomad.hcl": helloJob("one-b", "1.0.0"),
	})
	if res := drover(t, append([]string{"apply"}, syncArgs(r, "one")...)...); res.code != 0 {
		t.Fatalf("first apply exit %d\n%s", res.code, res.stderr)
	}
	va, vb := *nomadJob(t, "one-a").Version, *nomadJob(t, "one-b").Version

	// A commit that changes no spec: nothing is registered.
	r.commit("docs only", map[string]string{"NOTES.md": "hello"})
	res := drover(t, append([]string{"apply"}, syncArgs(r, "one")...)...)
	if res.code != 0 || len(res.events("job.applied")) != 0 {
		t.Fatalf("apply of a no-op commit: exit %d, applied %d\n%s", res.code, len(res.events("job.applied")), res.stderr)
	}

	second := r.commit("bump one-a", map[string]string{"one-a.nomad.hcl": helloJob("one-a", "1.0.1")})
	plan := drover(t, append([]string{"plan"}, syncArgs(r, "one")...)...)
	if plan.code != 2 {
		t.Fatalf("plan with a pending change: exit %d, want 2\n%s", plan.code, plan.stdout)
	}
	if !strings.Contains(plan.stdout, `"1.0.0" => "1.0.1"`) {
		t.Errorf("plan does not show the change:\n%s", plan.stdout)
	}
	res = drover(t, append([]string{"apply"}, syncArgs(r, "one")...)...)
	if res.code != 0 {
		t.Fatalf("second apply exit %d\n%s", res.code, res.stderr)
	}
	updates := res.events("job.update")
	if len(updates) != 1 || updates[0]["job"] != "one-a" {
		t.Fatalf("want one job.update for one-a, got %v", updates)
	}
	if !strings.Contains(fmt.Sprint(updates[0]["changes"]), `"1.0.0" => "1.0.1"`) {
		t.Errorf("job.update changes = %v", updates[0]["changes"])
	}
	a, b := nomadJob(t, "one-a"), nomadJob(t, "one-b")
	if *a.Version != va+1 || a.Meta["drover.commit"] != second {
		t.Errorf("one-a: version %d (was %d), commit %s; want re-registered at %s", *a.Version, va, a.Meta["drover.commit"], second)
	}
	if *b.Version != vb || b.Meta["drover.commit"] != first {
		t.Errorf("one-b: version %d (was %d), commit %s; want untouched at %s", *b.Version, vb, b.Meta["drover.commit"], first)
	}
	waitHealthy(t, "one-a", 1)
}

// TestAgent_ReportsAndRestoresHandDrift: a hand edit of a running job is a
// job.drift naming the field, and the agent puts git's spec back.
func TestAgent_ReportsAndRestoresHandDrift(t *testing.T) {
	r := newRepo(t)
	r.commit("job", map[string]string{"drift.nomad.hcl": helloJob("drift", "1.0.0")})
	a := startAgent(t, append(syncArgs(r, "drift"), "--interval", "2s")...)
	a.waitEvent("job.applied", time.Minute, nil)
	waitHealthy(t, "drift", 1)
	testutil.WaitFor(t, 30*time.Second, "deployment finished", func() (bool, string) {
		d, _, err := env.cluster.Nomad().Jobs().LatestDeployment("drift", nil)
		if err != nil || d == nil {
			return false, fmt.Sprint(err)
		}
		return d.Status == "successful", d.Status
	})

	// A hand edit the way an operator makes one: read, change, register.
	job := nomadJob(t, "drift")
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"HAND": "edit"}
	if _, _, err := env.cluster.Nomad().Jobs().Register(job, nil); err != nil {
		t.Fatalf("hand edit: %v", err)
	}
	drift := a.waitEvent("job.drift", time.Minute, func(e map[string]any) bool { return e["job"] == "drift" })
	if !strings.Contains(fmt.Sprint(drift["changes"]), `TaskGroups[web].Tasks[hello].Env[HAND]: "edit" => ""`) {
		t.Errorf("job.drift changes = %v", drift["changes"])
	}
	a.waitEvent("job.applied", time.Minute, func(e map[string]any) bool { return e["class"] == "drift" })
	if env := nomadJob(t, "drift").TaskGroups[0].Tasks[0].Env; env["HAND"] != "" {
		t.Errorf("hand edit not restored: env %v", env)
	}

	if st := a.status(); st.Report == nil || len(st.Report.Jobs) != 1 || st.Report.Jobs[0].Job != "drift" {
		t.Fatalf("status: %+v", st)
	}
	if code := a.stop(); code != 0 {
		t.Errorf("agent exit %d after SIGINT, want 0", code)
	}
}

// TestApply_BrokenFileNamesLineAndBlocksPrune: a file with an HCL error is
// reported with its path and line, the other jobs still sync, and nothing is
// pruned even with --prune.
func TestApply_BrokenFileNamesLineAndBlocksPrune(t *testing.T) {
	r := newRepo(t)
	r.commit("jobs", map[string]string{
		"broken-a.nomad.hcl": helloJob("broken-a", "1.0.0"),
		"broken-b.nomad.hcl": helloJob("broken-b", "1.0.0"),
	})
	if res := drover(t, append([]string{"apply"}, syncArgs(r, "broken")...)...); res.code != 0 {
		t.Fatalf("apply exit %d\n%s", res.code, res.stderr)
	}
	// broken-a gets a syntax error on line 3; broken-b is removed from git
	// and a new job arrives.
	bad := strings.Replace(helloJob("broken-a", "1.0.1"), "network {", "network {{", 1)
	r.commit("break a, drop b, add c", map[string]string{
		"broken-a.nomad.hcl": bad,
		"broken-b.nomad.hcl": "",
		"broken-c.nomad.hcl": helloJob("broken-c", "1.0.0"),
	})
	res := drover(t, append([]string{"apply", "--prune"}, syncArgs(r, "broken")...)...)
	if res.code != 1 {
		t.Fatalf("apply with a broken file: exit %d, want 1\n%s", res.code, res.stderr)
	}
	errs := res.events("job.error")
	if len(errs) != 1 || errs[0]["path"] != "broken-a.nomad.hcl" || errs[0]["line"] != float64(3) ||
		!strings.Contains(fmt.Sprint(errs[0]["error"]), "broken-a.nomad.hcl:3") {
		t.Fatalf("job.error = %v", errs)
	}
	if applied := res.events("job.applied"); len(applied) != 1 || applied[0]["job"] != "broken-c" {
		t.Errorf("want broken-c applied, got %v", applied)
	}
	if len(res.events("job.pruned")) != 0 {
		t.Fatalf("pruned in a cycle with a broken file:\n%s", res.stderr)
	}
	orphans := res.events("job.orphan")
	if len(orphans) != 1 || orphans[0]["job"] != "broken-b" || orphans[0]["prune_blocked"] == nil {
		t.Errorf("want broken-b reported as orphan with prune blocked, got %v", orphans)
	}
	for _, id := range []string{"broken-a", "broken-b"} {
		if j := nomadJob(t, id); *j.Stop {
			t.Errorf("%s was stopped", id)
		}
	}
	waitHealthy(t, "broken-c", 1)
}

// TestPrune_OrphanReportedThenStoppedOnlyWithPrune.
func TestPrune_OrphanReportedThenStoppedOnlyWithPrune(t *testing.T) {
	r := newRepo(t)
	r.commit("jobs", map[string]string{
		"orph-a.nomad.hcl": helloJob("orph-a", "1.0.0"),
		"orph-b.nomad.hcl": helloJob("orph-b", "1.0.0"),
	})
	if res := drover(t, append([]string{"apply"}, syncArgs(r, "orph")...)...); res.code != 0 {
		t.Fatalf("apply exit %d\n%s", res.code, res.stderr)
	}
	// A job of another drover instance and an unmanaged job: never touched.
	r2 := newRepo(t)
	r2.commit("other", map[string]string{"orph-other.nomad.hcl": helloJob("orph-other", "1.0.0")})
	if res := drover(t, append([]string{"apply"}, syncArgs(r2, "someone-else")...)...); res.code != 0 {
		t.Fatalf("apply of other instance exit %d\n%s", res.code, res.stderr)
	}

	r.commit("drop b", map[string]string{"orph-b.nomad.hcl": ""})
	plan := drover(t, append([]string{"plan", "--prune"}, syncArgs(r, "orph")...)...)
	if plan.code != 2 || !strings.Contains(plan.stdout, `Job: "orph-b" (orphan`) {
		t.Fatalf("plan --prune: exit %d, want 2 and the orphan shown\n%s", plan.code, plan.stdout)
	}
	res := drover(t, append([]string{"apply"}, syncArgs(r, "orph")...)...)
	if res.code != 0 || len(res.events("job.orphan")) != 1 || len(res.events("job.pruned")) != 0 {
		t.Fatalf("apply without --prune: exit %d\n%s", res.code, res.stderr)
	}
	if *nomadJob(t, "orph-b").Stop {
		t.Fatal("orph-b stopped without --prune")
	}

	res = drover(t, append([]string{"apply", "--prune"}, syncArgs(r, "orph")...)...)
	pruned := res.events("job.pruned")
	if res.code != 0 || len(pruned) != 1 || pruned[0]["job"] != "orph-b" {
		t.Fatalf("apply --prune: exit %d, pruned %v\n%s", res.code, pruned, res.stderr)
	}
	if j := nomadJob(t, "orph-b"); !*j.Stop {
		t.Error("orph-b not stopped")
	}
	for _, id := range []string{"orph-a", "orph-other"} {
		if *nomadJob(t, id).Stop {
			t.Errorf("%s was stopped", id)
		}
	}
}

// TestApply_ConflictIsRefusedNotOverwritten: someone registers the job
// between drover's plan and its register. Nomad refuses drover's register
// (check-index), drover reports job.conflict, and the other writer's
// version stays.
func TestApply_ConflictIsRefusedNotOverwritten(t *testing.T) {
	r := newRepo(t)
	r.commit("job", map[string]string{"race.nomad.hcl": helloJob("race", "1.0.0")})
	if res := drover(t, append([]string{"apply"}, syncArgs(r, "race")...)...); res.code != 0 {
		t.Fatalf("apply exit %d\n%s", res.code, res.stderr)
	}
	r.commit("bump", map[string]string{"race.nomad.hcl": helloJob("race", "2.0.0")})

	// A proxy in front of Nomad lets the concurrent writer in exactly
	// between drover's plan and its register.
	target, _ := url.Parse(env.cluster.NomadAddr())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/jobs" && (req.Method == http.MethodPut || req.Method == http.MethodPost) {
			once.Do(func() {
				job := nomadJob(t, "race")
				job.Meta["hand"] = "edit"
				if _, _, err := env.cluster.Nomad().Jobs().Register(job, nil); err != nil {
					t.Errorf("concurrent register: %v", err)
				}
			})
		}
		proxy.ServeHTTP(w, req)
	}))
	defer srv.Close()

	res := droverWith(t, []string{"NOMAD_ADDR=" + srv.URL}, append([]string{"apply"}, syncArgs(r, "race")...)...)
	if res.code != 1 {
		t.Fatalf("apply racing a hand edit: exit %d, want 1\n%s", res.code, res.stderr)
	}
	if c := res.events("job.conflict"); len(c) != 1 || c[0]["job"] != "race" {
		t.Fatalf("want one job.conflict, got %v\n%s", c, res.stderr)
	}
	job := nomadJob(t, "race")
	if job.Meta["hand"] != "edit" {
		t.Errorf("the concurrent edit was overwritten: meta %v", job.Meta)
	}
	if args := job.TaskGroups[0].Tasks[0].Config["args"]; strings.Contains(fmt.Sprint(args), "2.0.0") {
		t.Errorf("drover's register went through despite the conflict: args %v", args)
	}
}

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

// scalingJob is the hello job whose group has count 1 and an enabled
// scaling block, as a job the Nomad Autoscaler manages has; jobMeta is
// inserted at job level (indented, with its newline), or "".
func scalingJob(id, version, jobMeta string) string {
	spec := helloSpec(id, jobMeta, "var.hello_bin", fmt.Sprintf(`["-addr", "127.0.0.1:${NOMAD_PORT_http}", "-version", %q]`, version))
	return strings.Replace(spec, `group "web" {`, `group "web" {
    count = 1
    scaling {
      enabled = true
      min     = 1
      max     = 3
    }`, 1)
}

// scale sets a group's count the way the autoscaler does: the job scale
// API, not a register. Nomad refuses a scale while a deployment is
// active, so it waits for the job's latest one to finish first.
func scale(t *testing.T, id string, count int) {
	t.Helper()
	waitDeployed(t, id)
	if _, _, err := env.cluster.Nomad().Jobs().Scale(id, "web", &count, "e2e: as the autoscaler would", false, nil, nil); err != nil {
		t.Fatalf("scale %s to %d: %v", id, count, err)
	}
}

func waitDeployed(t *testing.T, id string) {
	t.Helper()
	testutil.WaitFor(t, time.Minute, id+"'s deployment finished", func() (bool, string) {
		d, _, err := env.cluster.Nomad().Jobs().LatestDeployment(id, nil)
		if err != nil || d == nil {
			return false, fmt.Sprint(err)
		}
		return d.Status == "successful", d.Status
	})
}

func groupCount(t *testing.T, id string) int {
	t.Helper()
	return *nomadJob(t, id).TaskGroups[0].Count
}

func eventsFor(logs, name, id string) []map[string]any {
	var out []map[string]any
	for _, e := range testutil.EventsIn(logs, name) {
		if e["job"] == id {
			out = append(out, e)
		}
	}
	return out
}

// TestScaling_HandScaledGroupIsLeftAloneAndSpecChangeKeepsItsCount: a job
// whose group has a scaling policy, scaled through the API as the
// autoscaler would, is not drift: the cycle the cluster watch starts for
// the scale logs job.count_ignored and registers nothing. A spec change in
// git is still applied, with the cluster's count.
func TestScaling_HandScaledGroupIsLeftAloneAndSpecChangeKeepsItsCount(t *testing.T) {
	t.Parallel()
	const id = "scale-agent"
	r := newRepo(t)
	first := r.commit("job", map[string]string{"scale.nomad.hcl": scalingJob(id, "1.0.0", "")})
	a := startAgent(t, append(syncArgs(r, id), "--interval", "1h", "--health-min-healthy", "2s", "--bake", "2s")...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, first))

	clusterCycles := a.starts("cluster")
	scale(t, id, 2)
	a.waitIdleAfter("cluster", clusterCycles)
	ignored := a.waitEvent("job.count_ignored", 30*time.Second, forJob(id))
	if ignored["group"] != "web" || ignored["git_count"] != 1.0 || ignored["cluster_count"] != 2.0 {
		t.Errorf("job.count_ignored = %v; want group web, git 1, cluster 2", ignored)
	}
	waitHealthy(t, id, 2)
	waitDeployed(t, id)
	// The allocations the scale placed start and settle; a cycle
	// through the API is the barrier after which anything the watch saw
	// has been synced. The scaled job is remembered in sync: that cycle
	// plans nothing.
	a.syncNow("")
	logs := a.log.String()
	done := testutil.EventsIn(logs, "sync.done")
	if c := counts(done[len(done)-1]); c["planned"] != 0 || c["in_sync"] != 1 {
		t.Errorf("the cycle after the scale settled: counts %v; want the job in sync without a plan", c)
	}
	if d := eventsFor(logs, "job.drift", id); len(d) != 0 {
		t.Errorf("a scale by the autoscaler reported as drift: %v", d)
	}
	if n := len(eventsFor(logs, "job.applied", id)); n != 1 {
		t.Errorf("%d job.applied events, want only the first deploy's", n)
	}
	if n := groupCount(t, id); n != 2 {
		t.Errorf("count %d after the cycles, want the autoscaler's 2", n)
	}

	second := r.commit("new version", map[string]string{"scale.nomad.hcl": scalingJob(id, "1.0.1", "")})
	a.sync()
	update := a.waitEvent("job.update", time.Minute, onCommit(id, second))
	if changes := fmt.Sprint(update["changes"]); !strings.Contains(changes, `"1.0.0" => "1.0.1"`) || strings.Contains(changes, "Count") {
		t.Errorf("job.update changes = %s; want the version, not the count", changes)
	}
	a.waitEvent("job.applied", time.Minute, onCommit(id, second))
	job := nomadJob(t, id)
	if *job.TaskGroups[0].Count != 2 || !strings.Contains(fmt.Sprint(job.TaskGroups[0].Tasks[0].Config["args"]), "1.0.1") {
		t.Errorf("after the spec change: count %d, args %v; want git's 1.0.1 with the cluster's count 2",
			*job.TaskGroups[0].Count, job.TaskGroups[0].Tasks[0].Config["args"])
	}
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, second))
	waitHealthy(t, id, 2)
	a.syncNow("")
	if d := eventsFor(a.log.String(), "job.drift", id); len(d) != 0 {
		t.Errorf("drift after the spec change: %v", d)
	}
}

// TestScaling_ResetCountsAppliesGitsCountOnlyWhenAsked: plan and apply
// leave an autoscaled count alone; --reset-counts shows the count
// difference and applies git's count.
func TestScaling_ResetCountsAppliesGitsCountOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	const id = "scale-reset"
	r := newRepo(t)
	r.commit("job", map[string]string{"scale.nomad.hcl": scalingJob(id, "1.0.0", "")})
	args := syncArgs(r, id)
	if res := drover(t, append([]string{"apply"}, args...)...); res.code != 0 {
		t.Fatalf("apply exit %d\n%s", res.code, res.stderr)
	}
	scale(t, id, 3)

	plan := drover(t, append([]string{"plan"}, args...)...)
	if plan.code != 0 || !strings.Contains(plan.stdout, "1 in sync") {
		t.Fatalf("plan of a scaled job: exit %d, want 0 and in sync\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}
	if ev := plan.events("job.count_ignored"); len(ev) != 1 || ev[0]["cluster_count"] != 3.0 || ev[0]["git_count"] != 1.0 {
		t.Errorf("job.count_ignored = %v; want one, git 1, cluster 3", ev)
	}
	if res := drover(t, append([]string{"apply"}, args...)...); res.code != 0 || len(res.events("job.applied")) != 0 {
		t.Fatalf("apply of a scaled job: exit %d, %d applied; want nothing registered\n%s", res.code, len(res.events("job.applied")), res.stderr)
	}
	if n := groupCount(t, id); n != 3 {
		t.Fatalf("count %d after apply, want the autoscaler's 3", n)
	}

	plan = drover(t, append([]string{"plan", "--reset-counts"}, args...)...)
	if plan.code != 2 || !strings.Contains(plan.stdout, `Count: "3" => "1"`) {
		t.Errorf("plan --reset-counts: exit %d, want 2 with the count change\n%s", plan.code, plan.stdout)
	}
	res := drover(t, append([]string{"apply", "--reset-counts"}, args...)...)
	if res.code != 0 || len(res.events("job.applied")) != 1 {
		t.Fatalf("apply --reset-counts: exit %d, %d applied\n%s", res.code, len(res.events("job.applied")), res.stderr)
	}
	if n := groupCount(t, id); n != 1 {
		t.Errorf("count %d after apply --reset-counts, want git's 1", n)
	}
}

// TestScaling_IgnoredFieldsAreNotDriftAndKeepTheClusterValue: fields a
// job lists in drover.ignore, changed in the cluster by another tool, are
// not drift, and a spec change registers git's spec with the cluster's
// values in those fields. A path drover does not know fails only its job.
func TestScaling_IgnoredFieldsAreNotDriftAndKeepTheClusterValue(t *testing.T) {
	t.Parallel()
	const id, broken = "ignore-fields", "ignore-broken"
	ignore := func(paths string) string {
		return fmt.Sprintf("  meta = {\n    \"drover.ignore\" = %q\n  }\n", paths)
	}
	spec := func(version string) string {
		return helloSpec(id, ignore("meta.team, group.*.task.hello.env.OWNER"), "var.hello_bin",
			fmt.Sprintf(`["-addr", "127.0.0.1:${NOMAD_PORT_http}", "-version", %q]`, version))
	}
	r := newRepo(t)
	r.commit("jobs", map[string]string{
		"ok.nomad.hcl":     spec("1.0.0"),
		"broken.nomad.hcl": helloSpec(broken, ignore("group.web.counts"), "var.hello_bin", `["-version", "1"]`),
	})
	args := syncArgs(r, id)
	res := drover(t, append([]string{"apply"}, args...)...)
	if res.code != 1 {
		t.Errorf("apply with a bad drover.ignore: exit %d, want 1\n%s", res.code, res.stderr)
	}
	var named bool
	for _, e := range res.events("job.error") {
		err := fmt.Sprint(e["error"])
		named = named || (e["path"] == "broken.nomad.hcl" && strings.Contains(err, "drover.ignore") && strings.Contains(err, "group.web.counts"))
	}
	if !named {
		t.Errorf("no job.error naming broken.nomad.hcl, drover.ignore and the path:\n%s", res.stderr)
	}
	if a := res.events("job.applied"); len(a) != 1 || a[0]["job"] != id {
		t.Fatalf("job.applied = %v; want the good job registered", a)
	}
	if _, _, err := env.cluster.Nomad().Jobs().Info(broken, nil); err == nil {
		t.Errorf("the job with the bad drover.ignore was registered")
	}
	r.commit("drop the broken job", map[string]string{"broken.nomad.hcl": ""})

	// Another tool sets the fields the job gives away.
	job := nomadJob(t, id)
	job.Meta["team"] = "payments"
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"OWNER": "other-tool"}
	if _, _, err := env.cluster.Nomad().Jobs().Register(job, nil); err != nil {
		t.Fatalf("edit by another tool: %v", err)
	}
	plan := drover(t, append([]string{"plan"}, args...)...)
	if plan.code != 0 {
		t.Errorf("plan with only ignored differences: exit %d, want 0\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}
	ev := plan.events("job.ignored_diff")
	if len(ev) != 1 || !strings.Contains(fmt.Sprint(ev[0]["fields"]), "Meta[team]") || !strings.Contains(fmt.Sprint(ev[0]["fields"]), "Env[OWNER]") {
		t.Errorf("job.ignored_diff = %v; want Meta[team] and Env[OWNER]", ev)
	}
	if strings.Contains(plan.stderr, "other-tool") || strings.Contains(plan.stderr, "payments") {
		t.Errorf("an ignored field's value was logged:\n%s", plan.stderr)
	}

	r.commit("new version", map[string]string{"ok.nomad.hcl": spec("1.0.1")})
	res = drover(t, append([]string{"apply"}, args...)...)
	if res.code != 0 || len(res.events("job.applied")) != 1 {
		t.Fatalf("apply of the spec change: exit %d\n%s", res.code, res.stderr)
	}
	job = nomadJob(t, id)
	task := job.TaskGroups[0].Tasks[0]
	if job.Meta["team"] != "payments" || task.Env["OWNER"] != "other-tool" || !strings.Contains(fmt.Sprint(task.Config["args"]), "1.0.1") {
		t.Errorf("registered meta %v env %v args %v; want git's 1.0.1 with the other tool's team and OWNER", job.Meta, task.Env, task.Config["args"])
	}
	if plan := drover(t, append([]string{"plan"}, args...)...); plan.code != 0 {
		t.Errorf("plan after the apply: exit %d, want 0\n%s", plan.code, plan.stdout)
	}
}

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

// TestRollout_ScaledToZeroInGitIsHealthyAndStaysQuiet: a commit setting a
// group's count to 0 is a healthy rollout (there is no allocation to wait
// for), and the job Nomad then marks dead is in sync, not registered again
// every cycle.
func TestRollout_ScaledToZeroInGitIsHealthyAndStaysQuiet(t *testing.T) {
	t.Parallel()
	const id = "ro-zero"
	r := newRepo(t)
	args := append(syncArgs(r, id), "--wait", "--health-min-healthy", "2s", "--bake", "2s", "--health-deadline", "40s")
	r.commit("one", map[string]string{"app.nomad.hcl": helloJob(id, "1.0.0")})
	if run := drover(t, append([]string{"apply"}, args...)...); run.code != 0 {
		t.Fatalf("apply --wait of count 1: exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}

	zero := strings.Replace(helloJob(id, "1.0.0"), `group "web" {`, "group \"web\" {\n    count = 0", 1)
	if zero == helloJob(id, "1.0.0") {
		t.Fatal("the test's job has no group to set the count of")
	}
	commit := r.commit("scale to zero", map[string]string{"app.nomad.hcl": zero})
	run := drover(t, append([]string{"apply"}, args...)...)
	if run.code != 0 || !strings.Contains(run.stdout, "deploy commit "+commit[:12]) || !strings.Contains(run.stdout, ": healthy") {
		t.Fatalf("apply --wait of count 0: exit %d, want 0 and a healthy rollout\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	if n := len(run.events("rollback.applied")); n != 0 {
		t.Errorf("count 0 was rolled back %d times", n)
	}

	testutil.WaitFor(t, 30*time.Second, "Nomad marks the job without allocations dead", func() (bool, string) {
		status := *nomadJob(t, id).Status
		return status == "dead", "status " + status
	})
	plan := drover(t, append([]string{"plan"}, syncArgs(r, id)...)...)
	if plan.code != 0 {
		t.Errorf("plan of the dead count-0 job: exit %d, want 0 (in sync)\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}
	if again := drover(t, append([]string{"apply"}, syncArgs(r, id)...)...); len(again.events("job.applied")) != 0 {
		t.Errorf("apply registered the dead count-0 job again: %v", again.events("job.applied"))
	}
}

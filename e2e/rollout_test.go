package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/internal/testutil"
)

// rolloutArgs keep rollouts short: 2s healthy, 2s bake, 25s deadline.
var rolloutArgs = []string{"--interval", "1h", "--health-min-healthy", "2s", "--bake", "2s", "--health-deadline", "25s"}

// helloVariant is a hello job that rolls out well, fails its Consul check,
// or cannot start its task.
type helloVariant struct {
	version    string
	unhealthy  bool // /health answers 500
	badCommand bool // the task's command does not exist
	autoRevert bool // Nomad's own update { auto_revert = true }
	// unhealthyFor makes /health fail for this long after the task starts,
	// then pass: a slow starter.
	unhealthyFor string
	// healthyDeadline is Nomad's update.healthy_deadline; default 1m.
	healthyDeadline string
}

func rolloutJob(id string, v helloVariant) string {
	command := "var.hello_bin"
	if v.badCommand {
		command = `"/nonexistent/hello"`
	}
	args := fmt.Sprintf(`["-addr", "127.0.0.1:${NOMAD_PORT_http}", "-version", %q]`, v.version)
	if v.unhealthy {
		args = fmt.Sprintf(`["-addr", "127.0.0.1:${NOMAD_PORT_http}", "-version", %q, "-unhealthy"]`, v.version)
	}
	if v.unhealthyFor != "" {
		args = fmt.Sprintf(`["-addr", "127.0.0.1:${NOMAD_PORT_http}", "-version", %q, "-unhealthy-for", %q]`, v.version, v.unhealthyFor)
	}
	deadline := v.healthyDeadline
	if deadline == "" {
		deadline = "1m"
	}
	progress := "2m"
	if v.autoRevert {
		// Without a progress deadline Nomad fails the deployment on the
		// first unhealthy allocation, and reverts, instead of
		// rescheduling it for minutes.
		progress = "0s"
	}
	update := fmt.Sprintf(`  update {
    min_healthy_time  = "1s"
    healthy_deadline  = %q
    progress_deadline = %q
    auto_revert       = %t
  }
`, deadline, progress, v.autoRevert)
	return helloSpec(id, update, command, args)
}

// sync asks the agent for a cycle now.
func (a *agentProc) sync() {
	a.t.Helper()
	resp, err := http.Post("http://"+a.addr+"/v1/sync", "application/json", nil)
	if err != nil {
		a.t.Fatalf("POST /v1/sync: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		a.t.Fatalf("POST /v1/sync: %s", resp.Status)
	}
}

// rollout is job's rollouts in the agent's /v1/status.
func (a *agentProc) rollout(job string) api.JobRollout {
	a.t.Helper()
	return rolloutOf(a.status(), job)
}

func onCommit(job, commit string) func(map[string]any) bool {
	return func(e map[string]any) bool { return e["job"] == job && e["commit"] == commit }
}

// count is how many events name has for job at commit.
func (a *agentProc) count(name, job, commit string) int {
	n := 0
	for _, e := range testutil.EventsIn(a.log.String(), name) {
		if onCommit(job, commit)(e) {
			n++
		}
	}
	return n
}

func runningCommit(t *testing.T, id string) string {
	t.Helper()
	return nomadJob(t, id).Meta["drover.commit"]
}

// TestRollout_CriticalCheckRolledBackThenFixDeploys walks the whole model:
// a good commit becomes last good; a commit whose /health answers 500 is
// rolled back within the deadline, with the failing check in the log, and
// is not applied again; a fix deploys and becomes last good.
func TestRollout_CriticalCheckRolledBackThenFixDeploys(t *testing.T) {
	const id = "ro-check"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a := startAgent(t, append(syncArgs(r, "ro-check"), rolloutArgs...)...)

	a.waitEvent("rollout.started", 60*time.Second, onCommit(id, good))
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, good))
	testutil.WaitFor(t, 10*time.Second, "last good commit in status", func() (bool, string) {
		st := a.rollout(id)
		return st.LastGoodCommit == good && st.State == api.JobHealthy, fmt.Sprint(st)
	})
	stored, _, err := env.cluster.Consul().KV().Get("drover/ro-check/jobs/default/"+id, nil)
	if err != nil || stored == nil || !strings.Contains(string(stored.Value), good) {
		t.Fatalf("state in Consul KV = %v, %v; want the last good commit %s", stored, err, good)
	}

	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	failed := a.waitEvent("rollout.failed", 90*time.Second, onCommit(id, bad))
	reason, _ := failed["reason"].(string)
	if !strings.Contains(reason, "check") || !strings.Contains(reason, "500") {
		t.Errorf("rollout.failed reason does not explain the failing check: %q", reason)
	}
	if failed["rollback_to"] != good {
		t.Errorf("rollout.failed rollback_to = %v, want %s", failed["rollback_to"], good)
	}
	a.waitEvent("job.quarantined", 10*time.Second, onCommit(id, bad))
	rb := a.waitEvent("rollback.applied", 60*time.Second, func(e map[string]any) bool {
		return e["job"] == id && e["from_commit"] == bad && e["to_commit"] == good
	})
	if !strings.Contains(fmt.Sprint(rb["reason"]), "500") {
		t.Errorf("rollback.applied reason = %v", rb["reason"])
	}
	if got := runningCommit(t, id); got != good {
		t.Fatalf("after rollback the job runs commit %s, want the last good %s", got, good)
	}
	waitHealthy(t, id, 1)
	a.waitEvent("rollout.healthy", 90*time.Second, func(e map[string]any) bool {
		return e["job"] == id && e["commit"] == good && e["kind"] == "rollback"
	})
	testutil.WaitFor(t, 10*time.Second, "rolled_back in status", func() (bool, string) {
		st := a.rollout(id)
		ok := st.State == api.JobRolledBack && st.LastGoodCommit == good && len(st.Quarantined) == 1 && st.Quarantined[0].Commit == bad
		return ok, fmt.Sprint(st)
	})

	// Later cycles leave the bad commit alone. Each POST is followed by
	// the cycle it asked for, finished, before anything is asserted.
	mark := a.mark()
	for i := 0; i < 2; i++ {
		a.syncNow("")
	}
	if n := a.countAfter(mark, "sync.done", func(e map[string]any) bool { return e["commit"] == bad }); n < 2 {
		t.Fatalf("%d cycles on the bad commit %s finished after the rollback, want 2: the checks below would prove nothing", n, bad)
	}
	if n := a.count("job.applied", id, bad); n != 1 {
		t.Errorf("the bad commit was registered %d times, want once", n)
	}
	if got := runningCommit(t, id); got != good {
		t.Errorf("a later cycle changed the job to commit %s", got)
	}

	fix := r.commit("fix", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.1"})})
	a.sync()
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, fix))
	testutil.WaitFor(t, 10*time.Second, "fix is last good", func() (bool, string) {
		st := a.rollout(id)
		return st.LastGoodCommit == fix && st.State == api.JobHealthy, fmt.Sprint(st)
	})
	if got := runningCommit(t, id); got != fix {
		t.Errorf("job runs commit %s, want the fix %s", got, fix)
	}
}

// TestRollout_TaskThatCannotStartRolledBack: a command that does not exist
// restarts the task; the rollout fails at once and is rolled back. With
// Nomad's own auto_revert the job ends on the good spec without drover and
// Nomad registering it back and forth.
func TestRollout_TaskThatCannotStartRolledBack(t *testing.T) {
	const plain, reverting = "ro-start", "ro-revert"
	r := newRepo(t)
	good := r.commit("good", map[string]string{
		"plain.nomad.hcl":  rolloutJob(plain, helloVariant{version: "1.0.0"}),
		"revert.nomad.hcl": rolloutJob(reverting, helloVariant{version: "1.0.0", autoRevert: true, healthyDeadline: "8s"}),
	})
	a := startAgent(t, append(syncArgs(r, "ro-start"), rolloutArgs...)...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(plain, good))
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(reverting, good))

	bad := r.commit("bad", map[string]string{
		"plain.nomad.hcl": rolloutJob(plain, helloVariant{version: "2.0.0", badCommand: true}),
		// Unhealthy with an 8s Nomad deadline: Nomad fails the deployment
		// and reverts before drover's 25s deadline.
		"revert.nomad.hcl": rolloutJob(reverting, helloVariant{version: "2.0.0", unhealthy: true, autoRevert: true, healthyDeadline: "8s"}),
	})
	a.sync()

	failed := a.waitEvent("rollout.failed", 90*time.Second, onCommit(plain, bad))
	if !strings.Contains(fmt.Sprint(failed["problems"]), "task") {
		t.Errorf("rollout.failed does not name the failing task: %v", failed)
	}
	a.waitEvent("rollback.applied", 60*time.Second, func(e map[string]any) bool { return e["job"] == plain && e["to_commit"] == good })
	testutil.WaitFor(t, 30*time.Second, plain+" back on the good commit", func() (bool, string) {
		got := runningCommit(t, plain)
		return got == good, got
	})
	waitHealthy(t, plain, 1)

	reverted := a.waitEvent("rollout.failed", 90*time.Second, onCommit(reverting, bad))
	if reverted["nomad_reverted"] == nil {
		t.Errorf("rollout.failed does not say Nomad reverted: %v", reverted)
	}
	rb := a.waitEvent("rollback.applied", 60*time.Second, func(e map[string]any) bool { return e["job"] == reverting && e["to_commit"] == good })
	if rb["applied_by"] != "nomad" {
		t.Errorf("drover registered the rollback itself although Nomad had reverted: %v", rb)
	}
	waitHealthy(t, reverting, 1)
	// Nomad's revert is the last version: drover registered nothing after.
	v := *nomadJob(t, reverting).Version
	mark := a.mark()
	for i := 0; i < 2; i++ {
		a.syncNow("")
	}
	if n := a.countAfter(mark, "sync.done", func(e map[string]any) bool { return e["commit"] == bad }); n < 2 {
		t.Fatalf("%d cycles on the bad commit %s finished after Nomad's revert, want 2: the checks below would prove nothing", n, bad)
	}
	if got := *nomadJob(t, reverting).Version; got != v {
		t.Errorf("job version moved from %d to %d after Nomad's revert", v, got)
	}
	if got := runningCommit(t, reverting); got != good {
		t.Errorf("%s runs commit %s, want %s", reverting, got, good)
	}
}

// TestRollout_AgentRestartedMidRolloutFinishesTheWatch: the state in Consul
// lets a new agent resume the watch of a rollout the killed one started,
// and roll it back.
func TestRollout_AgentRestartedMidRolloutFinishesTheWatch(t *testing.T) {
	const id = "ro-restart"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	args := append(syncArgs(r, "ro-restart"), rolloutArgs...)
	first := startAgent(t, args...)
	first.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, good))

	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	first.sync()
	first.waitEvent("rollout.started", 60*time.Second, onCommit(id, bad))
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if first.count("rollout.failed", id, bad) != 0 {
		t.Fatal("the rollout failed before the agent was killed; the test proves nothing")
	}

	second := startAgent(t, args...)
	second.waitEvent("rollout.resumed", 60*time.Second, onCommit(id, bad))
	second.waitEvent("rollout.failed", 90*time.Second, onCommit(id, bad))
	second.waitEvent("rollback.applied", 60*time.Second, func(e map[string]any) bool { return e["job"] == id && e["to_commit"] == good })
	testutil.WaitFor(t, 30*time.Second, "back on the good commit", func() (bool, string) {
		got := runningCommit(t, id)
		return got == good, got
	})
	if n := second.count("job.applied", id, bad); n != 0 {
		t.Errorf("the restarted agent registered the bad commit %d times", n)
	}
}

// TestRollout_OnlyTheBadJobOfACommitIsRolledBack: two jobs change in one
// commit; the healthy one keeps the new commit.
func TestRollout_OnlyTheBadJobOfACommitIsRolledBack(t *testing.T) {
	const okJob, badJob = "ro-pair-ok", "ro-pair-bad"
	r := newRepo(t)
	c1 := r.commit("both good", map[string]string{
		"ok.nomad.hcl":  rolloutJob(okJob, helloVariant{version: "1.0.0"}),
		"bad.nomad.hcl": rolloutJob(badJob, helloVariant{version: "1.0.0"}),
	})
	a := startAgent(t, append(syncArgs(r, "ro-pair"), rolloutArgs...)...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(okJob, c1))
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(badJob, c1))

	c2 := r.commit("one bad", map[string]string{
		"ok.nomad.hcl":  rolloutJob(okJob, helloVariant{version: "2.0.0"}),
		"bad.nomad.hcl": rolloutJob(badJob, helloVariant{version: "2.0.0", unhealthy: true}),
	})
	a.sync()
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(okJob, c2))
	a.waitEvent("rollback.applied", 90*time.Second, func(e map[string]any) bool { return e["job"] == badJob && e["to_commit"] == c1 })
	testutil.WaitFor(t, 30*time.Second, "each job on its commit", func() (bool, string) {
		ok, bad := runningCommit(t, okJob), runningCommit(t, badJob)
		return ok == c2 && bad == c1, ok + " " + bad
	})
	if n := len(testutil.EventsIn(a.log.String(), "rollback.applied")); n != 1 {
		t.Errorf("%d rollbacks, want only the bad job's", n)
	}
	if st := a.rollout(okJob); st.LastGoodCommit != c2 {
		t.Errorf("%s last good = %s, want %s", okJob, st.LastGoodCommit, c2)
	}
}

// TestRollout_ConsulDownIsUnknownNotRollback: with Consul stopped during a
// watch the verdict is unknown at the deadline; nothing is rolled back.
func TestRollout_ConsulDownIsUnknownNotRollback(t *testing.T) {
	const id = "ro-consul"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	// A lone agent: a replica of a highly available one gives up its
	// leadership when Consul is gone past the TTL, and stops watching.
	a := startAgent(t, append(syncArgs(r, "ro-consul"), "--ha=false", "--interval", "1h", "--health-min-healthy", "2s", "--bake", "2s", "--health-deadline", "15s")...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, good))

	next := r.commit("next", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.1.0"})})
	a.sync()
	a.waitEvent("rollout.started", 60*time.Second, onCommit(id, next))
	if err := env.cluster.StopConsul(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := env.cluster.StartConsul(ctx); err != nil {
			t.Errorf("restart consul: %v", err)
		}
	})
	a.waitEvent("rollout.unreachable", 30*time.Second, onCommit(id, next))
	unknown := a.waitEvent("rollout.unknown", 60*time.Second, onCommit(id, next))
	if !strings.Contains(fmt.Sprint(unknown["reason"]), "consul") {
		t.Errorf("rollout.unknown does not say Consul was unreachable: %v", unknown)
	}
	if n := len(testutil.EventsIn(a.log.String(), "rollback.applied")) + len(testutil.EventsIn(a.log.String(), "rollout.failed")); n != 0 {
		t.Errorf("a rollout with unknown health was failed or rolled back (%d events)", n)
	}
	if got := runningCommit(t, id); got != next {
		t.Errorf("job runs %s, want %s (untouched)", got, next)
	}
	if st := a.rollout(id); st.State != api.JobUnknown || st.LastGoodCommit != good {
		t.Errorf("status = %+v; want unknown with last good %s", st, good)
	}
}

// TestApplyWait_ExitsNonZeroOnAFailedRolloutAndRollsBack: apply --wait is a
// CI deploy step: 0 when the rollout is healthy, 1 when it failed, and then
// the job is back on the last good commit.
func TestApplyWait_ExitsNonZeroOnAFailedRolloutAndRollsBack(t *testing.T) {
	const id = "ro-wait"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	args := append(syncArgs(r, "ro-wait"), "--wait", "--health-min-healthy", "2s", "--bake", "2s", "--health-deadline", "20s")
	ok := drover(t, append([]string{"apply"}, args...)...)
	if ok.code != 0 || !strings.Contains(ok.stdout, "default/"+id+" deploy commit "+good[:12]) || !strings.Contains(ok.stdout, ": healthy") {
		t.Fatalf("apply --wait of a good commit: exit %d\n%s\n%s", ok.code, ok.stdout, ok.stderr)
	}

	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	failed := drover(t, append([]string{"apply"}, args...)...)
	if failed.code != 1 {
		t.Fatalf("apply --wait of a bad commit exited %d, want 1\n%s\n%s", failed.code, failed.stdout, failed.stderr)
	}
	if !strings.Contains(failed.stdout, "deploy commit "+bad[:12]) || !strings.Contains(failed.stdout, ": failed") ||
		!strings.Contains(failed.stdout, "rollback commit "+good[:12]) {
		t.Errorf("apply --wait output lacks the failed rollout and the rollback:\n%s", failed.stdout)
	}
	if len(failed.events("rollback.applied")) != 1 {
		t.Errorf("rollback.applied events: %v", failed.events("rollback.applied"))
	}
	if got := runningCommit(t, id); got != good {
		t.Errorf("after apply --wait the job runs %s, want the last good %s", got, good)
	}
	// The quarantine outlives the process: a plain apply does not
	// re-register the bad spec.
	again := drover(t, append([]string{"apply"}, syncArgs(r, "ro-wait")...)...)
	if again.code != 0 || len(again.events("job.applied")) != 0 {
		t.Errorf("a later apply re-registered the quarantined spec: exit %d\n%s", again.code, again.stderr)
	}
}

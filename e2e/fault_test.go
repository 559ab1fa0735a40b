package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/internal/faultproxy"
	"github.com/drover-dev/drover/internal/testutil"
	consulapi "github.com/hashicorp/consul/api"
)

// The fault-injection suite: a real drover agent, real Nomad and Consul,
// and a proxy in front of each that the test makes hang, refuse or fail
// one endpoint. Every scenario says what drover must do when a call it
// depends on does not come back. The scenarios share only the cluster and
// run in parallel.

// Endpoints the scenarios hang. The Nomad API client writes with PUT.
var (
	parseCall    = faultproxy.Rule{Method: http.MethodPut, Path: "/v1/jobs/parse"}
	registerCall = faultproxy.Rule{Method: http.MethodPut, Path: "/v1/jobs"}
	// The plan is PUT /v1/job/<id>/plan; nothing else drover sends is a
	// PUT under /v1/job/.
	planCalls = faultproxy.Rule{Method: http.MethodPut, PathPrefix: "/v1/job/"}
	// What a rollout's health is read from: the health feed (blocking
	// queries on /v1/health/…) and the live output of checks.
	consulHealth = []faultproxy.Rule{
		{Method: http.MethodGet, PathPrefix: "/v1/health/"},
		{Method: http.MethodGet, Path: "/v1/agent/checks"},
	}
	// State writes: a KV put (with or without ?cas=) or a transaction.
	consulWrites = []faultproxy.Rule{
		{Method: http.MethodPut, PathPrefix: "/v1/kv/"},
		{Method: http.MethodPut, Path: "/v1/txn"},
	}
)

func jobRead(id string) faultproxy.Rule {
	return faultproxy.Rule{Method: http.MethodGet, Path: "/v1/job/" + id}
}

func setAll(p *faultproxy.Proxy, rules []faultproxy.Rule, m faultproxy.Mode) {
	for _, r := range rules {
		p.Set(r, m)
	}
}

func clearAll(p *faultproxy.Proxy, rules []faultproxy.Rule) {
	for _, r := range rules {
		p.Clear(r)
	}
}

// TestFault_TimeoutFlagsExist: the deadlines the scenarios set through the
// environment are flags, with the environment variables they use.
func TestFault_TimeoutFlagsExist(t *testing.T) {
	t.Parallel()
	help := drover(t, "agent", "--help")
	for _, want := range []string{"--nomad-timeout", "--consul-timeout", "DROVER_CONSUL_TIMEOUT", "--git-timeout"} {
		if !strings.Contains(help.stdout, want) {
			t.Errorf("drover agent --help does not list %s", want)
		}
	}
}

// TestFault_NomadHangingInLoadFailsTheCycleInTimeAndRecoversByItself:
// while Nomad's parse endpoint hangs, the cycle fails at step load within
// one --nomad-timeout, /healthz says so, /v1/status keeps answering, and a
// commit pushed during the hang deploys once Nomad answers again, without
// anyone asking for a sync.
func TestFault_NomadHangingInLoadFailsTheCycleInTimeAndRecoversByItself(t *testing.T) {
	t.Parallel()
	const id = "flt-load"
	r := newRepo(t)
	r.commit("no jobs yet", map[string]string{"README.md": "jobs live here"})
	a, f := startFaultyAgent(t, append(syncArgs(r, id), "--interval", "1h")...)
	a.waitFor(0, "sync.done", time.Minute, "first cycle", okCycle)

	f.nomad.Set(parseCall, faultproxy.Hang())
	r.commit("add the job", map[string]string{"app.nomad.hcl": batchJob(id, "1")})
	mark := a.mark()
	a.sync()
	waitHanging(t, f.nomad, parseCall, 1, 30*time.Second)

	if code, body := agentGet(a, "/v1/status"); code != http.StatusOK || !json.Valid([]byte(body)) {
		t.Errorf("/v1/status while a parse hangs: %d %q", code, body)
	}
	// The step is named whether the cycle is still stuck in it or has
	// already failed there ("stuck in step load" / "failed at step load").
	waitHealthz(a, http.StatusServiceUnavailable, faultNomadTimeout+faultSlack, "step load")
	failed := a.waitFor(mark, "sync.done", faultNomadTimeout+faultSlack, "failed at step load", failedAt("load"))
	checkFailedCycle(t, failed, "transient")

	pushed := r.commit("pushed during the hang", map[string]string{"app.nomad.hcl": batchJob(id, "2")})
	apiCycles := a.starts("api")
	f.nomad.Clear(parseCall)
	a.waitFor(mark, "job.applied", 90*time.Second, "the commit pushed during the hang", onCommit(id, pushed))
	if n := a.starts("api"); n != apiCycles {
		t.Errorf("%d cycles were asked for through the API; the agent must recover by itself", n-apiCycles)
	}
	waitHealthz(a, http.StatusOK, 30*time.Second, "ok")
}

// TestFault_NomadHangingInPlanFailsTheCycleWithinOneTimeout: with plans
// hanging, a cycle over several jobs fails at step sync after about one
// --nomad-timeout, not one per job, and the jobs deploy once Nomad answers.
func TestFault_NomadHangingInPlanFailsTheCycleWithinOneTimeout(t *testing.T) {
	t.Parallel()
	ids := []string{"flt-plan-1", "flt-plan-2", "flt-plan-3", "flt-plan-4"}
	r := newRepo(t)
	r.commit("no jobs yet", map[string]string{"README.md": "jobs live here"})
	// One plan at a time: four jobs timing out one after the other would
	// take 4 × --nomad-timeout, well past the bound below.
	a, f := startFaultyAgent(t, append(syncArgs(r, "flt-plan"), "--interval", "1h", "--parallel", "1")...)
	a.waitFor(0, "sync.done", time.Minute, "first cycle", okCycle)
	// The agent registers jobs the cluster lacks without planning them:
	// they exist first, so the commit under test is four updates to plan.
	files := map[string]string{}
	for _, id := range ids {
		files[id+".nomad.hcl"] = batchJob(id, "1")
	}
	first := r.commit("four jobs", files)
	mark := a.mark()
	a.sync()
	for _, id := range ids {
		a.waitFor(mark, "job.applied", time.Minute, id+" created", onCommit(id, first))
	}
	a.waitFor(mark, "sync.done", time.Minute, "the creating cycle", okCycle)

	f.nomad.Set(planCalls, faultproxy.Hang())
	for _, id := range ids {
		files[id+".nomad.hcl"] = batchJob(id, "2")
	}
	c := r.commit("four updates", files)
	mark = a.mark()
	a.sync()
	waitHanging(t, f.nomad, planCalls, 1, 30*time.Second)
	failed := a.waitFor(mark, "sync.done", faultNomadTimeout+faultSlack, "failed at step sync within one timeout", failedAt("sync"))
	checkFailedCycle(t, failed, "transient")
	waitHealthz(a, http.StatusServiceUnavailable, faultSlack, "step sync")

	f.nomad.Clear(planCalls)
	for _, id := range ids {
		a.waitFor(mark, "job.applied", 90*time.Second, id+" deployed after the hang", onCommit(id, c))
	}
}

// TestFault_NomadHangingInRegisterAppliesTheJobExactlyOnceAfter: a register
// that hangs fails the cycle at step sync; once Nomad answers, the agent
// registers the job again by itself, and only once.
func TestFault_NomadHangingInRegisterAppliesTheJobExactlyOnceAfter(t *testing.T) {
	t.Parallel()
	const id = "flt-register"
	r := newRepo(t)
	first := r.commit("v1", map[string]string{"app.nomad.hcl": batchJob(id, "1")})
	a, f := startFaultyAgent(t, append(syncArgs(r, id), "--interval", "1h")...)
	a.waitFor(0, "job.applied", time.Minute, "v1", onCommit(id, first))
	a.waitFor(0, "sync.done", time.Minute, "first cycle", okCycle)
	version := *nomadJob(t, id).Version

	f.nomad.Set(registerCall, faultproxy.Hang())
	second := r.commit("v2", map[string]string{"app.nomad.hcl": batchJob(id, "2")})
	mark := a.mark()
	a.sync()
	waitHanging(t, f.nomad, registerCall, 1, 30*time.Second)
	failed := a.waitFor(mark, "sync.done", faultNomadTimeout+faultSlack, "failed at step sync", failedAt("sync"))
	checkFailedCycle(t, failed, "transient")

	apiCycles := a.starts("api")
	f.nomad.Clear(registerCall)
	a.waitFor(mark, "job.applied", 90*time.Second, "v2 registered after the hang", onCommit(id, second))
	if n := a.starts("api"); n != apiCycles {
		t.Errorf("%d cycles were asked for through the API; the agent must recover by itself", n-apiCycles)
	}
	a.syncNow("")
	if got := *nomadJob(t, id).Version; got != version+1 {
		t.Errorf("Nomad job version went from %d to %d, want one register", version, got)
	}
	if n := a.count("job.applied", id, second); n != 1 {
		t.Errorf("v2 registered %d times, want once", n)
	}
}

// TestFault_ConsulHangingDuringBakeGivesNoVerdictUntilItAnswers: no news is
// not good news. With Consul's health endpoints hanging during the bake,
// the rollout is not judged healthy on stale data; drover says it cannot
// see; once Consul answers, the healthy verdict comes, with no rollback.
func TestFault_ConsulHangingDuringBakeGivesNoVerdictUntilItAnswers(t *testing.T) {
	t.Parallel()
	const id = "flt-bake"
	const bake = 6 * time.Second
	r := newRepo(t)
	c := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a, f := startFaultyAgent(t, append(syncArgs(r, id), "--interval", "1h", "--health-min-healthy", "2s",
		"--bake", bake.String(), "--health-deadline", "20s")...)
	a.waitFor(0, "rollout.baking", 90*time.Second, "good commit baking", onCommit(id, c))
	setAll(f.consul, consulHealth, faultproxy.Hang())
	bakeEnd := time.Now().Add(bake)

	a.waitFor(0, "rollout.unreachable", 25*time.Second, "Consul not answering during the bake", onCommit(id, c))
	// The bake would have ended by now: a verdict here could only come
	// from the data seen before the hang.
	testutil.WaitFor(t, bake+faultSlack, "the bake window over", func() (bool, string) {
		return time.Now().After(bakeEnd.Add(2 * time.Second)), ""
	})
	if n := a.count("rollout.healthy", id, c); n != 0 {
		t.Fatalf("rollout judged healthy while Consul did not answer (%d events)", n)
	}
	clearAll(f.consul, consulHealth)
	a.waitFor(0, "rollout.reachable", 30*time.Second, "Consul answering again", onCommit(id, c))
	a.waitFor(0, "rollout.healthy", 60*time.Second, "verdict once Consul answers", onCommit(id, c))
	if n := a.countAfter(0, "rollback.applied", forJob(id)) + a.countAfter(0, "rollout.failed", forJob(id)); n != 0 {
		t.Errorf("a healthy rollout was failed or rolled back (%d events)", n)
	}
}

// TestFault_CheckCriticalDuringAConsulHangInTheBakeFailsTheRollout (item
// 7): the check goes critical while Consul's health endpoints hang for
// drover; once they answer, the rollout fails and is rolled back, and it is
// never judged healthy.
func TestFault_CheckCriticalDuringAConsulHangInTheBakeFailsTheRollout(t *testing.T) {
	t.Parallel()
	const id = "flt-bake-crit"
	const bake = 6 * time.Second
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a, f := startFaultyAgent(t, append(syncArgs(r, id), "--interval", "1h", "--health-min-healthy", "2s",
		"--bake", bake.String(), "--health-deadline", "20s")...)
	a.waitFor(0, "rollout.healthy", 90*time.Second, "good commit", onCommit(id, good))

	next := r.commit("healthy at first", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0"})})
	a.sync()
	applied := a.waitFor(0, "job.applied", time.Minute, "next commit", onCommit(id, next))
	a.waitFor(0, "rollout.baking", 90*time.Second, "next commit baking", onCommit(id, next))
	setAll(f.consul, consulHealth, faultproxy.Hang())
	bakeEnd := time.Now().Add(bake)
	makeUnhealthy(t, id, uintField(applied, "version"))

	a.waitFor(0, "rollout.unreachable", 25*time.Second, "Consul not answering during the bake", onCommit(id, next))
	testutil.WaitFor(t, bake+faultSlack, "the bake window over", func() (bool, string) {
		return time.Now().After(bakeEnd.Add(2 * time.Second)), ""
	})
	if n := a.count("rollout.healthy", id, next); n != 0 {
		t.Fatalf("rollout judged healthy while its check was critical and Consul did not answer (%d events)", n)
	}
	clearAll(f.consul, consulHealth)
	a.waitFor(0, "rollout.failed", 60*time.Second, "critical check seen once Consul answers", onCommit(id, next))
	a.waitFor(0, "rollback.applied", 60*time.Second, "rollback to the good commit", func(e map[string]any) bool {
		return e["job"] == id && e["to_commit"] == good
	})
	if n := a.count("rollout.healthy", id, next); n != 0 {
		t.Errorf("the commit whose check went critical was judged healthy (%d events)", n)
	}
}

// TestFault_ConsulHangingAtWatchStartIsUnknownThenRejudged (items 8, 10):
// Consul's health endpoints hang from before the register of a bad
// commit. drover says it cannot see within --consul-timeout, gives an
// unknown (not failed) verdict by the deadline and rolls nothing back;
// once Consul answers, the still-critical check fails the rollout, which
// is rolled back exactly once.
func TestFault_ConsulHangingAtWatchStartIsUnknownThenRejudged(t *testing.T) {
	t.Parallel()
	const id = "flt-watch-start"
	const deadline = 20 * time.Second
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a, f := startFaultyAgent(t, append(syncArgs(r, id), faultRolloutArgs...)...)
	a.waitFor(0, "rollout.healthy", 90*time.Second, "good commit", onCommit(id, good))

	setAll(f.consul, consulHealth, faultproxy.Hang())
	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	mark := a.mark()
	a.sync()
	a.waitFor(mark, "rollout.started", time.Minute, "bad commit", onCommit(id, bad))
	a.waitFor(mark, "rollout.unreachable", faultConsulTimeout+faultSlack, "Consul not answering", onCommit(id, bad))
	unknown := a.waitFor(mark, "rollout.unknown", deadline+faultSlack, "no verdict by the deadline", onCommit(id, bad))
	if unknown["level"] != "warn" {
		t.Errorf("rollout.unknown = %v, want a warning", unknown)
	}
	if n := a.countAfter(mark, "rollback.applied", forJob(id)) + a.countAfter(mark, "rollout.failed", forJob(id)); n != 0 {
		t.Fatalf("a rollout nobody could see was failed or rolled back (%d events)", n)
	}

	clearAll(f.consul, consulHealth)
	a.waitFor(mark, "rollout.failed", 90*time.Second, "re-judged once Consul answers", onCommit(id, bad))
	a.waitFor(mark, "rollback.applied", 60*time.Second, "rollback to the good commit", func(e map[string]any) bool {
		return e["job"] == id && e["to_commit"] == good
	})
	a.waitFor(mark, "rollout.healthy", 90*time.Second, "the rollback's rollout", func(e map[string]any) bool {
		return e["job"] == id && e["commit"] == good && e["kind"] == "rollback"
	})
	a.syncNow("")
	if n := a.countAfter(mark, "rollback.applied", forJob(id)); n != 1 {
		t.Errorf("%d rollbacks, want exactly one", n)
	}
	if got := runningCommit(t, id); got != good {
		t.Errorf("job runs %s, want the good commit %s", got, good)
	}
}

// TestFault_ConsulHangingOnStateWriteDoesNotBlockTheCycle (item 1): with
// Consul's KV writes hanging right after a register, the cycle still
// finishes within --consul-timeout and the rollout is watched; once Consul
// answers, the rollout is in the state.
func TestFault_ConsulHangingOnStateWriteDoesNotBlockTheCycle(t *testing.T) {
	t.Parallel()
	const id = "flt-state-write"
	r := newRepo(t)
	r.commit("no jobs yet", map[string]string{"README.md": "jobs live here"})
	a, f := startFaultyAgent(t, append(syncArgs(r, id), faultRolloutArgs...)...)
	a.waitFor(0, "sync.done", time.Minute, "first cycle", okCycle)

	setAll(f.consul, consulWrites, faultproxy.Hang())
	c := r.commit("add the job", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	mark := a.mark()
	a.sync()
	waitHanging(t, f.consul, faultproxy.Rule{Method: http.MethodPut}, 1, time.Minute)
	a.waitFor(mark, "sync.done", faultConsulTimeout+faultSlack, "the cycle finished", nil)
	a.waitFor(mark, "job.applied", faultSlack, "the job", onCommit(id, c))
	a.waitFor(mark, "rollout.started", faultSlack, "the rollout watched", onCommit(id, c))

	clearAll(f.consul, consulWrites)
	key := "drover/" + id + "/jobs/default/" + id
	testutil.WaitFor(t, time.Minute, "the rollout in the state", func() (bool, string) {
		kv, _, err := env.cluster.Consul().KV().Get(key, nil)
		if err != nil || kv == nil {
			return false, fmt.Sprintf("%v %v", kv, err)
		}
		return strings.Contains(string(kv.Value), `"rollout"`) && strings.Contains(string(kv.Value), c), string(kv.Value)
	})
}

// killedMidBadRollout deploys a good commit, then a bad one, and SIGKILLs
// the agent while the bad rollout is watched (its check is critical, and
// the deadline is 20s away). It returns the arguments and environment
// (the data dir) for the next agent, and the two commits.
func killedMidBadRollout(t *testing.T, id string) (first *agentProc, args, extraEnv []string, good, bad string) {
	t.Helper()
	r := newRepo(t)
	good = r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	args = append(syncArgs(r, id), faultRolloutArgs...)
	extraEnv = []string{"DROVER_DATA_DIR=" + t.TempDir()}
	first = newFaults(t).start(t, extraEnv, args...)
	first.waitFor(0, "rollout.healthy", 90*time.Second, "good commit", onCommit(id, good))

	bad = r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	first.sync()
	first.waitFor(0, "rollout.started", time.Minute, "bad commit", onCommit(id, bad))
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if first.count("rollout.failed", id, bad) != 0 {
		t.Fatal("the rollout failed before the agent was killed; the test proves nothing")
	}
	return first, args, extraEnv, good, bad
}

// checkRolledBackOnce waits for the rollback's own rollout, then checks
// that across both agents the job was rolled back once: one
// rollback.applied, and Nomad versions good (0), bad (1), rollback (2).
func checkRolledBackOnce(t *testing.T, first, second *agentProc, id, good string) {
	t.Helper()
	second.waitFor(0, "rollout.healthy", 90*time.Second, "the rollback's rollout", func(e map[string]any) bool {
		return e["job"] == id && e["commit"] == good && e["kind"] == "rollback"
	})
	second.syncNow("")
	if n := first.countAfter(0, "rollback.applied", forJob(id)) + second.countAfter(0, "rollback.applied", forJob(id)); n != 1 {
		t.Errorf("%d rollbacks across both agents, want exactly one", n)
	}
	if v := *nomadJob(t, id).Version; v != 2 {
		t.Errorf("Nomad job version %d, want 2 (good, bad, one rollback)", v)
	}
	if got := runningCommit(t, id); got != good {
		t.Errorf("job runs %s, want the good commit %s", got, good)
	}
}

// TestFault_ResumeAfterANomadErrorStillFinishesTheWatch (item 3): the
// first read of the job by the restarted agent answers 500; the watch is
// resumed anyway once Nomad answers, and the bad rollout is rolled back
// exactly once. (TestRollout_AgentRestartedMidRolloutFinishesTheWatch is
// the same restart with Nomad answering.)
func TestFault_ResumeAfterANomadErrorStillFinishesTheWatch(t *testing.T) {
	t.Parallel()
	const id = "flt-resume-500"
	first, args, extraEnv, good, bad := killedMidBadRollout(t, id)

	f := newFaults(t)
	f.nomad.Set(jobRead(id), faultproxy.Status(http.StatusInternalServerError, "injected by the test"))
	second := f.start(t, extraEnv, args...)
	waitCount(t, f.nomad, jobRead(id), 1, time.Minute)
	f.nomad.Clear(jobRead(id))

	second.waitFor(0, "rollout.resumed", time.Minute, "the watch resumed after the error", onCommit(id, bad))
	second.waitFor(0, "rollout.failed", 90*time.Second, "bad commit", onCommit(id, bad))
	second.waitFor(0, "rollback.applied", 60*time.Second, "rollback to the good commit", func(e map[string]any) bool {
		return e["job"] == id && e["to_commit"] == good
	})
	checkRolledBackOnce(t, first, second, id, good)
}

// TestFault_ResumeThatHangsDoesNotHoldTheFirstCycle (item 9): the
// restarted agent's read of the job hangs; its first cycle still finishes
// within --nomad-timeout and /healthz stops saying the first sync has not
// finished; once Nomad answers, the watch reaches its verdict.
func TestFault_ResumeThatHangsDoesNotHoldTheFirstCycle(t *testing.T) {
	t.Parallel()
	const id = "flt-resume-hang"
	first, args, extraEnv, good, bad := killedMidBadRollout(t, id)

	f := newFaults(t)
	f.nomad.Set(jobRead(id), faultproxy.Hang())
	second := f.start(t, extraEnv, args...)
	waitHanging(t, f.nomad, jobRead(id), 1, time.Minute)
	second.waitFor(0, "sync.done", faultNomadTimeout+faultSlack, "the first cycle finished", nil)
	testutil.WaitFor(t, faultSlack, "/healthz past the first sync", func() (bool, string) {
		code, body := healthz(second)
		return code != 0 && !strings.Contains(body, "first sync has not finished"), fmt.Sprintf("%d %q", code, body)
	})

	f.nomad.Clear(jobRead(id))
	second.waitFor(0, "rollout.failed", 90*time.Second, "bad commit", onCommit(id, bad))
	second.waitFor(0, "rollback.applied", 60*time.Second, "rollback to the good commit", func(e map[string]any) bool {
		return e["job"] == id && e["to_commit"] == good
	})
	checkRolledBackOnce(t, first, second, id, good)
}

// TestFault_MissingRefStallsNamedAndNotHammered (item 4): a --ref that
// does not exist stalls the agent: said once, named in /healthz, retried
// slowly; a sync asked for still runs at once, and once the branch exists
// the agent syncs.
func TestFault_MissingRefStallsNamedAndNotHammered(t *testing.T) {
	t.Parallel()
	const id = "flt-ref"
	r := newRepo(t)
	r.commit("the job", map[string]string{"app.nomad.hcl": batchJob(id, "1")})
	a, _ := startFaultyAgent(t, append(syncArgs(r, id), "--ref", "nope", "--interval", "1h")...)

	stalled := a.waitFor(0, "sync.stalled", 30*time.Second, "ref nope", nil)
	if stalled["level"] != "warn" || !strings.Contains(fmt.Sprint(stalled["reason"]), "nope") {
		t.Errorf("sync.stalled = %v, want a warning whose reason names the ref nope", stalled)
	}
	done := a.waitFor(0, "sync.done", 30*time.Second, "stalled cycle", func(e map[string]any) bool {
		return e["result"] == "failed" && e["kind"] == "stalled"
	})
	if d, err := time.ParseDuration(fmt.Sprint(done["retry_in"])); err != nil || d < time.Minute {
		t.Errorf("stalled cycle retry_in = %v, want at least 1m", done["retry_in"])
	}
	waitHealthz(a, http.StatusServiceUnavailable, 10*time.Second, "stalled", "nope")

	// Not hammered: a transient error is retried after 5s, then 10s, so
	// 12s with no cycle of its own shows the slow retry. An absence can
	// only be seen by waiting.
	starts := len(testutil.EventsIn(a.log.String(), "sync.start"))
	testutil.Throughout(t, 12*time.Second, "a stalled agent starting no cycle by itself", func() (bool, string) {
		n := len(testutil.EventsIn(a.log.String(), "sync.start"))
		return n == starts, fmt.Sprintf("%d more cycles started", n-starts)
	})

	// Asked for, a cycle runs at once; the same reason is not said again.
	a.syncNow("")
	if n := len(testutil.EventsIn(a.log.String(), "sync.stalled")); n != 1 {
		t.Errorf("sync.stalled logged %d times for one reason, want once", n)
	}

	r.git("branch", "nope")
	head := r.git("rev-parse", "HEAD")
	mark := a.mark()
	a.syncNow("")
	a.waitFor(mark, "sync.done", 30*time.Second, "a cycle once the branch exists", okCycle)
	a.waitFor(mark, "job.applied", 30*time.Second, "the job on branch nope", onCommit(id, head))
	waitHealthz(a, http.StatusOK, 10*time.Second, "ok")
}

// TestFault_DeletedStateKeyIsSeenByTheRunningAgent (item 11): the
// README's recovery. After a rollback, deleting the job's state key and
// asking for a sync makes the running agent register the quarantined spec
// again.
func TestFault_DeletedStateKeyIsSeenByTheRunningAgent(t *testing.T) {
	t.Parallel()
	const id = "flt-retry"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a, _ := startFaultyAgent(t, append(syncArgs(r, id), faultRolloutArgs...)...)
	a.waitFor(0, "rollout.healthy", 90*time.Second, "good commit", onCommit(id, good))
	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	a.waitFor(0, "rollback.applied", 90*time.Second, "rollback to the good commit", func(e map[string]any) bool {
		return e["job"] == id && e["to_commit"] == good
	})
	a.waitFor(0, "rollout.healthy", 90*time.Second, "the rollback's rollout", func(e map[string]any) bool {
		return e["job"] == id && e["commit"] == good && e["kind"] == "rollback"
	})

	key := "drover/" + id + "/jobs/default/" + id
	if _, err := env.cluster.Consul().KV().Delete(key, nil); err != nil {
		t.Fatal(err)
	}
	mark := a.mark()
	a.syncNow("")
	a.waitFor(mark, "job.applied", 30*time.Second, "the quarantined spec registered again", onCommit(id, bad))
}

// TestFault_UnreadableStateKeyHoldsOnlyItsJob (item 13): a state key that
// is not JSON, and an empty "folder" key under the prefix, do not stop the
// other jobs; the bad key is named and its job held.
func TestFault_UnreadableStateKeyHoldsOnlyItsJob(t *testing.T) {
	t.Parallel()
	const instance, okID, heldID = "flt-badstate", "flt-badstate-ok", "flt-badstate-held"
	prefix := "drover/" + instance + "/"
	badKey := prefix + "jobs/default/" + heldID
	kv := env.cluster.Consul().KV()
	for key, value := range map[string]string{prefix + "jobs/": "", badKey: "{not json"} {
		if _, err := kv.Put(&consulapi.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	r := newRepo(t)
	c := r.commit("two jobs", map[string]string{
		"ok.nomad.hcl":   rolloutJob(okID, helloVariant{version: "1.0.0"}),
		"held.nomad.hcl": rolloutJob(heldID, helloVariant{version: "1.0.0"}),
	})
	a, _ := startFaultyAgent(t, append(syncArgs(r, instance), faultRolloutArgs...)...)

	invalid := a.waitFor(0, "state.invalid", time.Minute, "the bad key named", func(e map[string]any) bool {
		return strings.Contains(fmt.Sprint(e), badKey)
	})
	if invalid["level"] != "error" {
		t.Errorf("state.invalid = %v, want an error", invalid)
	}
	a.waitFor(0, "rollout.healthy", 90*time.Second, "the other job rolled out", onCommit(okID, c))
	testutil.WaitFor(t, 10*time.Second, heldID+" held, naming its key", func() (bool, string) {
		logs := a.log.String()
		for _, e := range append(testutil.EventsIn(logs, "job.held"), testutil.EventsIn(logs, "job.error")...) {
			if e["job"] == heldID && strings.Contains(fmt.Sprint(e), badKey) {
				return true, ""
			}
		}
		return false, "no job.held or job.error for " + heldID + " naming " + badKey
	})
	if _, _, err := env.cluster.Nomad().Jobs().Info(heldID, nil); err == nil {
		t.Errorf("%s was registered although its state could not be read", heldID)
	}
}

// TestFault_RollbackTargetGoneFromGitFailsTheRollbackVisibly (item 15):
// the last good commit is gone from the remote (history force-pushed and
// pruned) and the agent starts with a fresh clone; when the next rollout
// fails, the rollback cannot be done, and that is said, counted and shown.
func TestFault_RollbackTargetGoneFromGitFailsTheRollbackVisibly(t *testing.T) {
	t.Parallel()
	const id = "flt-gone"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	args := append(syncArgs(r, id), faultRolloutArgs...)
	first, _ := startFaultyAgent(t, args...)
	first.waitFor(0, "rollout.healthy", 90*time.Second, "good commit, now last good", onCommit(id, good))
	if code := first.stop(); code != 0 {
		t.Fatalf("first agent exited %d", code)
	}

	// A new history without the good commit, which is then pruned from
	// the remote so that no fetch, by ref or by SHA, can bring it back.
	r.git("checkout", "-q", "--orphan", "rewritten")
	bad := r.commit("bad, on a history without the good commit", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	r.git("branch", "-f", "main", "rewritten")
	r.git("checkout", "-q", "main")
	r.git("branch", "-D", "rewritten")
	r.git("reflog", "expire", "--expire=now", "--all")
	r.git("gc", "-q", "--prune=now")
	if gitObjectExists(r.dir, good) {
		t.Fatalf("commit %s is still in the remote; the test proves nothing", good)
	}

	second, _ := startFaultyAgent(t, args...) // a fresh --data-dir: a new clone
	failed := second.waitFor(0, "rollout.failed", 90*time.Second, "bad commit", onCommit(id, bad))
	if failed["rollback_to"] != good {
		t.Errorf("rollout.failed rollback_to = %v, want %s", failed["rollback_to"], good)
	}
	rb := second.waitFor(0, "rollback.failed", time.Minute, "rollback to a commit git no longer has", forJob(id))
	if fmt.Sprint(rb["reason"]) == "" && fmt.Sprint(rb["error"]) == "" {
		t.Errorf("rollback.failed gives no reason: %v", rb)
	}
	testutil.WaitFor(t, 10*time.Second, "failed rollback counted", func() (bool, string) {
		code, body := agentGet(second, "/metrics")
		v := metric(body, `drover_rollbacks_total{result="failed"}`)
		return code == http.StatusOK && v >= 1, fmt.Sprintf("%d %v", code, v)
	})
	testutil.WaitFor(t, 10*time.Second, "rollback_failed in /v1/status", func() (bool, string) {
		st := second.rollout(id)
		return st.State == api.JobRollbackFailed, fmt.Sprintf("%+v", st)
	})
	code, body := healthz(second)
	t.Logf("/healthz with a failed rollback: %d %q", code, body)
}

// eventStream is Nomad's event stream, which the rollout watch follows.
var eventStream = faultproxy.Rule{Method: http.MethodGet, Path: "/v1/event/stream", Query: "topic=Allocation"}

// TestStream_CutDuringARolloutStillGivesTheRightVerdict: the rollout
// watch's event stream is cut while a bad commit deploys, and refused
// while its task fails, so no event of the failure comes through it. The
// rollout shows Nomad unreachable, and is still failed from drover's own
// reads of the job, rolled back, and never judged healthy; the stream is
// taken again once Nomad allows it.
func TestStream_CutDuringARolloutStillGivesTheRightVerdict(t *testing.T) {
	t.Parallel()
	const id = "stream-cut"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a, f := startFaultyAgent(t, append(syncArgs(r, id), "--interval", "1h", "--health-min-healthy", "2s",
		"--bake", "2s", "--health-deadline", "40s")...)
	a.waitFor(0, "rollout.healthy", 90*time.Second, "good commit", onCommit(id, good))

	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", badCommand: true})})
	f.nomad.Set(eventStream, faultproxy.Refuse())
	a.sync()
	a.waitFor(0, "job.applied", time.Minute, "bad commit", onCommit(id, bad))
	// The stream up since the good commit's watch, if any, is cut too.
	f.nomad.Cut(eventStream)
	subscriptions := f.nomad.Count(eventStream)
	a.waitFor(0, "rollout.unreachable", time.Minute, "the stream refused", onCommit(id, bad))

	f.nomad.Clear(eventStream)
	waitCount(t, f.nomad, eventStream, subscriptions+1, time.Minute)
	a.waitFor(0, "rollout.failed", 90*time.Second, "bad commit failed once the stream is back", onCommit(id, bad))
	a.waitFor(0, "rollback.applied", 60*time.Second, "rollback to the good commit", func(e map[string]any) bool {
		return e["job"] == id && e["to_commit"] == good
	})
	if n := a.count("rollout.healthy", id, bad); n != 0 {
		t.Errorf("the bad commit was judged healthy (%d events)", n)
	}
}

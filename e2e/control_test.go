package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/internal/testutil"
)

// statusOf is /v1/status; the test fails when it has no controls.
func statusOf(t *testing.T, a *agentProc) api.Status {
	t.Helper()
	st := a.status()
	if st.Controls == nil {
		t.Fatalf("/v1/status has no controls: %+v", st)
	}
	return st
}

// heldIn returns the held reason of job in the last report.
func heldIn(st api.Status, job string) string {
	if j := reportedJob(st, job); j != nil {
		return j.Held
	}
	return ""
}

func handEnv(t *testing.T, id string) string {
	t.Helper()
	return nomadJob(t, id).TaskGroups[0].Tasks[0].Env["HAND"]
}

// TestControl_SuspendedJobDriftsUntilResumed: a job suspended with
// `drover suspend` (the agent's flags, no agent needed) is still planned:
// a hand edit is reported as drift, held and not corrected, and /v1/status
// says who suspended it, when and why. The suspension is in Consul, so a
// new agent honours it too; `drover resume` corrects the drift at once.
func TestControl_SuspendedJobDriftsUntilResumed(t *testing.T) {
	t.Parallel()
	const id = "ctl-susp"
	r := newRepo(t)
	r.commit("job", map[string]string{id + ".nomad.hcl": helloJob(id, "1.0.0")})
	args := append(syncArgs(r, "ctl-susp"), "--interval", "1h")
	a := startAgent(t, args...)
	a.waitEvent("job.applied", time.Minute, func(e map[string]any) bool { return e["job"] == id })
	waitHealthy(t, id, 1)

	m := a.mark()
	out := drover(t, append([]string{"suspend", id, "--reason", "db migration", "--by", "alice"}, args...)...)
	if out.code != 0 || !strings.Contains(out.stdout, "Job default/"+id+": suspended by alice at ") ||
		!strings.Contains(out.stdout, ": db migration") {
		t.Fatalf("drover suspend: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	// The leader watches the key: it sees the suspension at once.
	a.waitFor(m, "control.suspended", 30*time.Second, "the leader sees the suspension", func(e map[string]any) bool {
		return e["scope"] == "default/"+id && e["by"] == "alice" && e["reason"] == "db migration"
	})

	m = a.mark()
	job := nomadJob(t, id)
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"HAND": "edit"}
	if _, _, err := env.cluster.Nomad().Jobs().Register(job, nil); err != nil {
		t.Fatalf("hand edit: %v", err)
	}
	a.waitFor(m, "job.drift", 30*time.Second, "the hand edit reported", forJob(id))
	held := a.waitFor(m, "job.held", 30*time.Second, "the drift held", forJob(id))
	if reason, _ := held["reason"].(string); !strings.HasPrefix(reason, "suspended by alice at ") || !strings.Contains(reason, ": db migration") {
		t.Errorf("job.held reason %q", reason)
	}
	a.waitFor(m, "sync.done", 30*time.Second, "the cycle that held it", okCycle)
	if n := a.countAfter(m, "job.applied", forJob(id)); n != 0 {
		t.Fatalf("a suspended job was applied %d times", n)
	}
	if got := handEnv(t, id); got != "edit" {
		t.Fatalf("the hand edit was corrected while suspended: HAND=%q", got)
	}
	st := statusOf(t, a)
	if s := st.Controls.Suspensions.Jobs["default/"+id]; s.By != "alice" || s.Reason != "db migration" {
		t.Errorf("status suspensions: %+v", st.Controls.Suspensions)
	}
	if !strings.HasPrefix(heldIn(st, id), "suspended by alice") {
		t.Errorf("status report held %q", heldIn(st, id))
	}

	// A new agent finds the suspension in Consul and keeps holding.
	a.stop()
	b := startAgent(t, args...)
	b.waitEvent("control.suspended", time.Minute, func(e map[string]any) bool {
		return e["scope"] == "default/"+id && e["by"] == "alice" && e["already"] == true
	})
	b.waitEvent("job.held", time.Minute, forJob(id))
	b.waitEvent("sync.done", time.Minute, okCycle)
	if n := len(testutil.EventsIn(b.log.String(), "job.applied")); n != 0 {
		t.Fatalf("the restarted agent applied %d jobs of a suspended one", n)
	}
	if got := handEnv(t, id); got != "edit" {
		t.Fatalf("the restarted agent corrected a suspended job: HAND=%q", got)
	}

	m = b.mark()
	out = drover(t, append([]string{"resume", id}, args...)...)
	if out.code != 0 || !strings.Contains(out.stdout, "Nothing of instance \"ctl-susp\" is suspended.") {
		t.Fatalf("drover resume: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	b.waitFor(m, "control.resumed", 30*time.Second, "the leader sees the resume", func(e map[string]any) bool {
		return e["scope"] == "default/"+id && e["suspended_by"] == "alice"
	})
	b.waitFor(m, "job.applied", 30*time.Second, "the drift corrected", func(e map[string]any) bool {
		return e["job"] == id && e["class"] == "drift"
	})
	if got := handEnv(t, id); got != "" {
		t.Errorf("after resume: HAND=%q, want the hand edit gone", got)
	}
}

// TestControl_InstanceSuspendedOverHTTP: POST /v1/suspend without a job
// suspends the whole instance (behind --api-token): a new commit is held,
// a job whose file is gone is not pruned, the gauge says so; POST
// /v1/resume applies and prunes.
func TestControl_InstanceSuspendedOverHTTP(t *testing.T) {
	t.Parallel()
	const a1, b1, token = "ctl-inst-a", "ctl-inst-b", "ctl-token"
	r := newRepo(t)
	r.commit("jobs", map[string]string{
		a1 + ".nomad.hcl": helloJob(a1, "1.0.0"),
		b1 + ".nomad.hcl": helloJob(b1, "1.0.0"),
	})
	ag := startAgentWith(t, []string{"DROVER_API_TOKEN=" + token}, append(syncArgs(r, "ctl-inst"), "--interval", "1h", "--prune")...)
	ag.waitEvent("job.applied", time.Minute, func(e map[string]any) bool { return e["job"] == a1 })
	ag.waitEvent("job.applied", time.Minute, func(e map[string]any) bool { return e["job"] == b1 })
	waitHealthy(t, a1, 1)
	waitHealthy(t, b1, 1)

	url := "http://" + ag.addr
	body := []byte(`{"reason":"incident 42","by":"bob"}`)
	if code, resp := post(t, url+"/v1/suspend", nil, body); code != http.StatusUnauthorized {
		t.Fatalf("POST /v1/suspend without the token: %d %s", code, resp)
	}
	m := ag.mark()
	auth := map[string]string{"Authorization": "Bearer " + token}
	code, resp := post(t, url+"/v1/suspend", auth, body)
	if code != http.StatusOK || !strings.Contains(resp, `"by": "bob"`) {
		t.Fatalf("POST /v1/suspend: %d %s", code, resp)
	}
	ag.waitFor(m, "control.suspended", 30*time.Second, "the instance suspended", func(e map[string]any) bool {
		return e["scope"] == "instance" && e["by"] == "bob"
	})
	if code, scrape := get(t, url+"/metrics"); code != 200 || metric(scrape, "drover_suspended") != 1 {
		t.Errorf("drover_suspended = %v, want 1", metric(scrape, "drover_suspended"))
	}

	m = ag.mark()
	r.commit("a 2.0.0, b gone", map[string]string{a1 + ".nomad.hcl": helloJob(a1, "2.0.0"), b1 + ".nomad.hcl": ""})
	ag.syncNow(token)
	held := ag.waitFor(m, "job.held", 10*time.Second, "the new commit held", forJob(a1))
	if reason, _ := held["reason"].(string); !strings.HasPrefix(reason, "suspended by bob") {
		t.Errorf("job.held reason %q", reason)
	}
	orphan := ag.waitFor(m, "job.orphan", 10*time.Second, "b reported", forJob(b1))
	if pb, _ := orphan["prune_blocked"].(string); !strings.Contains(pb, "instance suspended by bob") {
		t.Errorf("job.orphan prune_blocked %q", pb)
	}
	if n := ag.countAfter(m, "job.applied", nil) + ag.countAfter(m, "job.pruned", nil); n != 0 {
		t.Fatalf("%d applies or prunes while the instance is suspended", n)
	}
	if st := statusOf(t, ag); st.Controls.Suspensions.Instance == nil || st.Controls.Suspensions.Instance.Reason != "incident 42" {
		t.Errorf("status suspensions: %+v", st.Controls.Suspensions)
	}

	m = ag.mark()
	if code, resp := post(t, url+"/v1/resume", auth, nil); code != http.StatusOK {
		t.Fatalf("POST /v1/resume: %d %s", code, resp)
	}
	ag.waitFor(m, "control.resumed", 30*time.Second, "the instance resumed", func(e map[string]any) bool { return e["scope"] == "instance" })
	ag.waitFor(m, "job.applied", 30*time.Second, "a's new commit applied", forJob(a1))
	ag.waitFor(m, "job.pruned", 30*time.Second, "b pruned", forJob(b1))
	if code, scrape := get(t, url+"/metrics"); code != 200 || metric(scrape, "drover_suspended") != 0 {
		t.Errorf("drover_suspended = %v after resume, want 0", metric(scrape, "drover_suspended"))
	}
}

// TestControl_DenyWindowHoldsADeploy: inside a deny window (one that
// covers now) a new job is planned and held, saying until when; an agent
// started without the window applies it. A bad window is a start-up error
// naming the flag.
func TestControl_DenyWindowHoldsADeploy(t *testing.T) {
	t.Parallel()
	const id = "ctl-deny"
	if out := drover(t, "agent", "--repo", "/nonexistent", "--deny-window", "0 18 * * FRI"); out.code != 1 ||
		!strings.Contains(out.stderr, `--deny-window: window "0 18 * * FRI"`) {
		t.Errorf("a bad window: exit %d, %s", out.code, out.stderr)
	}

	r := newRepo(t)
	r.commit("job", map[string]string{id + ".nomad.hcl": helloJob(id, "1.0.0")})
	args := append(syncArgs(r, "ctl-deny"), "--interval", "1h")
	// Opens every minute for an hour: open now, whenever now is.
	a := startAgent(t, append(args, "--deny-window", "* * * * * 1h")...)
	held := a.waitEvent("job.held", time.Minute, forJob(id))
	if reason, _ := held["reason"].(string); !strings.HasPrefix(reason, "deny window until ") {
		t.Errorf("job.held reason %q", reason)
	}
	summary := a.waitEvent("sync.held", time.Minute, nil)
	if reason, _ := summary["reason"].(string); !strings.HasPrefix(reason, "deny window until ") || summary["until"] == nil {
		t.Errorf("sync.held %v", summary)
	}
	a.waitEvent("sync.done", time.Minute, okCycle)
	if n := len(testutil.EventsIn(a.log.String(), "job.applied")); n != 0 {
		t.Fatalf("%d applies inside a deny window", n)
	}
	if _, _, err := env.cluster.Nomad().Jobs().Info(id, nil); err == nil {
		t.Fatal("the job was registered inside a deny window")
	}
	if st := statusOf(t, a); !strings.HasPrefix(st.Controls.Held, "deny window until ") || st.Controls.Until == nil {
		t.Errorf("status controls held %q until %v", st.Controls.Held, st.Controls.Until)
	}
	a.stop()

	b := startAgent(t, args...)
	b.waitEvent("job.applied", time.Minute, forJob(id))
	waitHealthy(t, id, 1)
}

// TestControl_AllowWindowOutsideHoldsAndInsideApplies: outside every allow
// window a new job is planned and held, saying when the next window opens,
// and Nomad never sees it; an agent with an allow window open now applies
// it, the closed window beside it notwithstanding.
func TestControl_AllowWindowOutsideHoldsAndInsideApplies(t *testing.T) {
	t.Parallel()
	const id = "ctl-allow"
	if out := drover(t, "agent", "--repo", "/nonexistent", "--allow-window", "0 8 * * MON-FRI"); out.code != 1 ||
		!strings.Contains(out.stderr, `--allow-window: window "0 8 * * MON-FRI"`) {
		t.Errorf("a bad window: exit %d, %s", out.code, out.stderr)
	}

	// Opens half an hour from now for a minute: closed for the whole
	// test, whenever it runs. In UTC, so the agent's zone cannot move it.
	opens := time.Now().UTC().Add(30 * time.Minute).Truncate(time.Minute)
	later := fmt.Sprintf("CRON_TZ=UTC %d %d * * * 1m", opens.Minute(), opens.Hour())
	want := "outside allow windows until " + opens.Format(time.RFC3339)

	r := newRepo(t)
	r.commit("job", map[string]string{id + ".nomad.hcl": helloJob(id, "1.0.0")})
	args := append(syncArgs(r, "ctl-allow"), "--interval", "1h", "--allow-window", later)
	a := startAgent(t, args...)
	held := a.waitEvent("job.held", time.Minute, forJob(id))
	if held["reason"] != want {
		t.Errorf("job.held reason %q, want %q", held["reason"], want)
	}
	summary := a.waitEvent("sync.held", time.Minute, nil)
	if until, err := time.Parse(time.RFC3339, fmt.Sprint(summary["until"])); summary["reason"] != want || err != nil || !until.Equal(opens) {
		t.Errorf("sync.held %v; want reason %q until %s", summary, want, opens.Format(time.RFC3339))
	}
	a.waitEvent("sync.done", time.Minute, okCycle)
	if n := len(testutil.EventsIn(a.log.String(), "job.applied")); n != 0 {
		t.Fatalf("%d applies outside the allow windows", n)
	}
	if _, _, err := env.cluster.Nomad().Jobs().Info(id, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("%s in Nomad: err %v; want it never registered (404) outside the allow windows", id, err)
	}
	if st := statusOf(t, a); st.Controls.Held != want || heldIn(st, id) != want {
		t.Errorf("status controls held %q, job held %q; want %q", st.Controls.Held, heldIn(st, id), want)
	}
	a.stop()

	// Opens every minute for two: open now, whenever now is.
	b := startAgent(t, append(args, "--allow-window", "* * * * * 2m")...)
	b.waitEvent("job.applied", time.Minute, forJob(id))
	if n := len(testutil.EventsIn(b.log.String(), "sync.held")); n != 0 {
		t.Errorf("%d cycles held inside an allow window", n)
	}
	waitHealthy(t, id, 1)
}

// suspendedRollout is a job whose bad commit's rollout failed while the
// job was suspended: what TestControl_RollbackWhileSuspended goes on from.
type suspendedRollout struct {
	a         *agentProc
	r         *repo
	args      []string
	good, bad string
	// mark is where the agent's log stood before the suspension.
	mark int
}

// failWhileSuspended deploys id healthy at a good commit, registers a bad
// one whose check answers 500, suspends the job while that rollout is
// watched (its verdict comes at --health-deadline, 25s after the register)
// and waits for the verdict.
func failWhileSuspended(t *testing.T, id string, extra ...string) suspendedRollout {
	t.Helper()
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	args := append(append(syncArgs(r, id), rolloutArgs...), extra...)
	a := startAgent(t, args...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, good))

	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	a.waitEvent("rollout.started", 60*time.Second, onCommit(id, bad))
	m := a.mark()
	out := drover(t, append([]string{"suspend", id, "--reason", "hands off", "--by", "dave"}, args...)...)
	if out.code != 0 {
		t.Fatalf("drover suspend: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	suspended := func(e map[string]any) bool { return e["scope"] == "default/"+id && e["by"] == "dave" }
	a.waitFor(m, "control.suspended", 30*time.Second, "the leader sees the suspension", suspended)
	failed := a.waitFor(m, "rollout.failed", 90*time.Second, "the bad commit's verdict", onCommit(id, bad))
	if failed["rollback_to"] != good {
		t.Errorf("rollout.failed rollback_to = %v, want %s", failed["rollback_to"], good)
	}
	if a.eventAt("control.suspended", suspended) > a.eventAt("rollout.failed", onCommit(id, bad)) {
		t.Fatal("the rollout failed before the leader saw the suspension; the test proves nothing")
	}
	return suspendedRollout{a: a, r: r, args: args, good: good, bad: bad, mark: m}
}

// TestControl_RollbackWhileSuspended: a job suspended while a bad commit's
// rollout is watched. By default its failed rollout is not rolled back
// (the rollback is held, the bad commit keeps running) until the job is
// resumed; with --rollback-while-suspended the rollback goes through at
// once, and anything else new for the job is still held.
func TestControl_RollbackWhileSuspended(t *testing.T) {
	t.Parallel()
	t.Run("held until resumed", func(t *testing.T) {
		t.Parallel()
		const id = "ctl-rbs-off"
		s := failWhileSuspended(t, id)
		a := s.a
		held := a.waitFor(s.mark, "job.held", 30*time.Second, "the rollback held", onCommit(id, s.good))
		if reason, _ := held["reason"].(string); !strings.HasPrefix(reason, "suspended by dave at ") || !strings.HasSuffix(reason, ": hands off") {
			t.Errorf("job.held reason %q", reason)
		}
		// Once a cycle started after it is done, the rollback's cycle is
		// over and anything it did is in the log; that one holds too.
		a.syncNow("")
		if n := a.countAfter(s.mark, "rollback.applied", forJob(id)) + a.countAfter(s.mark, "job.applied", forJob(id)); n != 0 {
			t.Fatalf("%d registers of a suspended job without --rollback-while-suspended", n)
		}
		if got := runningCommit(t, id); got != s.bad {
			t.Fatalf("the suspended job runs commit %s, want the failed %s left alone", got, s.bad)
		}
		st := statusOf(t, a)
		if !strings.HasPrefix(heldIn(st, id), "suspended by dave at ") {
			t.Errorf("status report held %q", heldIn(st, id))
		}
		if ro := a.rollout(id); ro.State != api.JobFailed || ro.LastGoodCommit != s.good || !strings.HasPrefix(ro.Held, "suspended by dave at ") {
			t.Errorf("rollout status %+v; want failed (not rolled back), held by the suspension, with last good %s", ro, s.good)
		}

		m := a.mark()
		out := drover(t, append([]string{"resume", id}, s.args...)...)
		if out.code != 0 {
			t.Fatalf("drover resume: exit %d\n%s%s", out.code, out.stdout, out.stderr)
		}
		a.waitFor(m, "control.resumed", 30*time.Second, "the leader sees the resume", func(e map[string]any) bool {
			return e["scope"] == "default/"+id && e["suspended_by"] == "dave"
		})
		a.waitFor(m, "rollback.applied", 30*time.Second, "rolled back once resumed", func(e map[string]any) bool {
			return e["job"] == id && e["from_commit"] == s.bad && e["to_commit"] == s.good
		})
		if got := runningCommit(t, id); got != s.good {
			t.Fatalf("after resume the job runs commit %s, want the last good %s", got, s.good)
		}
		a.waitFor(m, "rollout.healthy", 90*time.Second, "the rollback healthy", func(e map[string]any) bool {
			return e["job"] == id && e["commit"] == s.good && e["kind"] == "rollback"
		})
		testutil.WaitFor(t, 10*time.Second, "rolled_back in status", func() (bool, string) {
			ro := a.rollout(id)
			return ro.State == api.JobRolledBack && ro.LastGoodCommit == s.good, fmt.Sprint(ro)
		})
	})
	t.Run("rolled back with the flag", func(t *testing.T) {
		t.Parallel()
		const id = "ctl-rbs-on"
		s := failWhileSuspended(t, id, "--rollback-while-suspended")
		a := s.a
		a.waitFor(s.mark, "rollback.applied", 30*time.Second, "rolled back while suspended", func(e map[string]any) bool {
			return e["job"] == id && e["from_commit"] == s.bad && e["to_commit"] == s.good
		})
		if got := runningCommit(t, id); got != s.good {
			t.Fatalf("after the rollback the job runs commit %s, want the last good %s", got, s.good)
		}
		if n := a.countAfter(s.mark, "job.held", onCommit(id, s.good)); n != 0 {
			t.Errorf("the rollback was held %d times with --rollback-while-suspended", n)
		}
		if sus := statusOf(t, a).Controls.Suspensions.Jobs["default/"+id]; sus.By != "dave" {
			t.Fatalf("the rollback lifted the suspension: %+v", sus)
		}

		// Only the rollback goes through: a new commit is still held.
		m := a.mark()
		next := s.r.commit("next", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "3.0.0"})})
		a.syncNow("")
		held := a.waitFor(m, "job.held", 10*time.Second, "the new commit held", onCommit(id, next))
		if reason, _ := held["reason"].(string); !strings.HasPrefix(reason, "suspended by dave at ") {
			t.Errorf("job.held reason %q", reason)
		}
		if n := a.countAfter(m, "job.applied", forJob(id)); n != 0 {
			t.Fatalf("a suspended job's new commit was applied %d times", n)
		}
		if got := runningCommit(t, id); got != s.good {
			t.Errorf("the suspended job runs commit %s, want the last good %s", got, s.good)
		}
	})
}

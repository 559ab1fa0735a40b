package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/internal/testutil"
)

// dependentJob is a hello job with drover.depends_on set to deps.
func dependentJob(id, deps string, v helloVariant) string {
	meta := fmt.Sprintf("  meta = {\n    \"drover.depends_on\" = %q\n  }\n", deps)
	return strings.Replace(rolloutJob(id, v), "  group \"web\" {", meta+"  group \"web\" {", 1)
}

// eventAt is the position in the agent's log of the first event name
// matching pred, -1 when there is none: the log's order is the order in
// which the agent did things.
func (a *agentProc) eventAt(name string, pred func(map[string]any) bool) int {
	sc := bufio.NewScanner(strings.NewReader(a.log.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; sc.Scan(); i++ {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["event"] == name && pred(e) {
			return i
		}
	}
	return -1
}

// reported is the last report's entry for job in /v1/status.
func (a *agentProc) reported(job string) (state api.SyncState, held string, dependsOn []string) {
	a.t.Helper()
	if j := reportedJob(a.status(), job); j != nil {
		return j.State, j.Held, j.DependsOn
	}
	return "", "", nil
}

// TestDependsOn_RegisteredAfterItsDependencyIsHealthy: two jobs committed
// at once, app depending on db: db is registered first, app is held with
// the reason while db's rollout bakes, and is registered by the cycle db's
// healthy verdict asks for, not at the (one hour) interval.
func TestDependsOn_RegisteredAfterItsDependencyIsHealthy(t *testing.T) {
	t.Parallel()
	const db, app = "dep-order-db", "dep-order-app"
	r := newRepo(t)
	c1 := r.commit("db and app", map[string]string{
		"db.nomad.hcl":  rolloutJob(db, helloVariant{version: "1.0.0"}),
		"app.nomad.hcl": dependentJob(app, db, helloVariant{version: "1.0.0"}),
	})
	a := startAgent(t, append(syncArgs(r, "dep-order"), rolloutArgs...)...)

	held := a.waitEvent("job.held", time.Minute, onCommit(app, c1))
	if want := "waiting for dependency default/" + db + ": registered in this cycle, its rollout must be healthy first"; held["reason"] != want {
		t.Errorf("job.held reason = %q, want %q", held["reason"], want)
	}
	healthy := a.waitEvent("rollout.healthy", 90*time.Second, onCommit(db, c1))
	a.waitEvent("job.applied", time.Minute, onCommit(app, c1))
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(app, c1))

	dbApplied := a.eventAt("job.applied", onCommit(db, c1))
	heldAt, healthyAt := a.eventAt("job.held", onCommit(app, c1)), a.eventAt("rollout.healthy", onCommit(db, c1))
	appApplied := a.eventAt("job.applied", onCommit(app, c1))
	if !(dbApplied < heldAt && heldAt < healthyAt && healthyAt < appApplied) {
		t.Errorf("log order: db applied %d, app held %d, db healthy %d, app applied %d; want in that order",
			dbApplied, heldAt, healthyAt, appApplied)
	}
	if n := a.count("job.applied", app, c1); n != 1 {
		t.Errorf("app registered %d times, want once", n)
	}
	if n := a.starts("dependency default/" + db + " settled"); n != 1 {
		t.Errorf("%d cycles asked for by db's healthy rollout, want 1", n)
	}
	dbSubmit, appSubmit := *nomadJob(t, db).SubmitTime, *nomadJob(t, app).SubmitTime
	if appSubmit <= dbSubmit || time.Unix(0, appSubmit).Before(eventTime(t, healthy)) {
		t.Errorf("Nomad submit times: db %s, app %s; want app after db's healthy verdict at %s",
			time.Unix(0, dbSubmit), time.Unix(0, appSubmit), eventTime(t, healthy))
	}
	if state, _, deps := a.reported(app); len(deps) != 1 || deps[0] != "default/"+db {
		t.Errorf("status: app %s depends_on %v; want [default/%s]", state, deps, db)
	}
}

// TestDependsOn_HeldWhenItsDependencyFails: db is good, then one commit
// breaks db's check and adds app depending on it. db's rollout fails and
// is rolled back; app is never registered, held with a reason naming db.
func TestDependsOn_HeldWhenItsDependencyFails(t *testing.T) {
	t.Parallel()
	const db, app = "dep-fail-db", "dep-fail-app"
	r := newRepo(t)
	good := r.commit("db", map[string]string{"db.nomad.hcl": rolloutJob(db, helloVariant{version: "1.0.0"})})
	a := startAgent(t, append(syncArgs(r, "dep-fail"), rolloutArgs...)...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(db, good))

	bad := r.commit("bad db, and app", map[string]string{
		"db.nomad.hcl":  rolloutJob(db, helloVariant{version: "2.0.0", unhealthy: true}),
		"app.nomad.hcl": dependentJob(app, "default/"+db, helloVariant{version: "1.0.0"}),
	})
	a.sync()
	held := a.waitEvent("job.held", time.Minute, onCommit(app, bad))
	if !strings.Contains(fmt.Sprint(held["reason"]), "waiting for dependency default/"+db+": registered in this cycle") {
		t.Errorf("job.held reason = %v", held["reason"])
	}
	a.waitEvent("rollout.failed", 90*time.Second, onCommit(db, bad))
	a.waitEvent("rollback.applied", time.Minute, func(e map[string]any) bool { return e["job"] == db && e["to_commit"] == good })
	a.waitEvent("rollout.healthy", 90*time.Second, func(e map[string]any) bool {
		return e["job"] == db && e["commit"] == good && e["kind"] == "rollback"
	})
	// The rollback's healthy verdict asks for a cycle: app is held again,
	// now behind a dependency that runs its last good commit.
	want := "dependency default/" + db + " runs its last good commit " + good[:12] + ": the spec in git is quarantined after its rollout failed"
	a.waitEvent("job.held", time.Minute, func(e map[string]any) bool { return e["job"] == app && e["reason"] == want })
	testutil.WaitFor(t, 10*time.Second, "app held in status", func() (bool, string) {
		state, reason, _ := a.reported(app)
		return state == api.SyncHeld && reason == want, string(state) + ": " + reason
	})

	if n := len(testutil.EventsIn(a.log.String(), "job.applied")) - a.count("job.applied", db, good) - a.count("job.applied", db, bad); n != 0 {
		t.Errorf("%d registers of other jobs than db; app must never be registered", n)
	}
	if _, _, err := env.cluster.Nomad().Jobs().Info(app, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("app in Nomad: err %v; want it never registered (404)", err)
	}
}

// TestDependsOn_ApplyWaitDeploysTheWholeChain: a one-shot `apply --wait`
// registers db, waits for its rollout, then registers app (held in the
// first cycle), and returns once both are healthy.
func TestDependsOn_ApplyWaitDeploysTheWholeChain(t *testing.T) {
	t.Parallel()
	const db, app = "dep-wait-db", "dep-wait-app"
	r := newRepo(t)
	c1 := r.commit("db and app", map[string]string{
		"db.nomad.hcl":  rolloutJob(db, helloVariant{version: "1.0.0"}),
		"app.nomad.hcl": dependentJob(app, db, helloVariant{version: "1.0.0"}),
	})
	run := drover(t, append([]string{"apply"}, syncArgs(r, "dep-wait", "--wait", "--health-min-healthy", "2s", "--bake", "2s",
		"--health-deadline", "25s")...)...)
	if run.code != 0 {
		t.Fatalf("apply --wait: exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	for _, id := range []string{db, app} {
		if !strings.Contains(run.stdout, "default/"+id+" deploy commit "+c1[:12]+" version 0: healthy") {
			t.Errorf("apply --wait output lacks %s's healthy rollout:\n%s", id, run.stdout)
		}
	}
	if !strings.Contains(run.stdout, "held, not applied: waiting for dependency default/"+db) {
		t.Errorf("the first cycle's report does not show app held behind db:\n%s", run.stdout)
	}
	held, applied := run.events("job.held"), run.events("job.applied")
	if len(held) != 1 || held[0]["job"] != app || len(applied) != 2 || applied[0]["job"] != db || applied[1]["job"] != app {
		t.Errorf("held %v, applied %v; want app held once, db registered, then app", held, applied)
	}
	if got := runningCommit(t, app); got != c1 {
		t.Errorf("app runs commit %q, want %s", got, c1)
	}
}

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

// TestRollout_FailAfterRollsBackLongBeforeTheDeadline: with the default
// 5m deadline, a commit whose check never passes is rolled back once the
// check has been critical for --health-fail-after (plus the job's 1s
// min_healthy_time), not five minutes later.
func TestRollout_FailAfterRollsBackLongBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	const id = "ro-failfast"
	const failAfter = 15 * time.Second
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a := startAgent(t, append(syncArgs(r, id), "--interval", "1h", "--health-min-healthy", "2s", "--bake", "2s",
		"--health-fail-after", failAfter.String())...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, good))

	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	started := a.waitEvent("rollout.started", time.Minute, onCommit(id, bad))
	if started["fail_after"] != failAfter.String() || started["start_grace"] != "1s" {
		t.Errorf("rollout.started = %v; want fail_after %s and the job's 1s min_healthy_time as start grace", started, failAfter)
	}
	startedAt := eventTime(t, started)
	failed := a.waitEvent("rollout.failed", 2*time.Minute, onCommit(id, bad))
	if reason := fmt.Sprint(failed["reason"]); !strings.Contains(reason, "stayed critical for 16s") || !strings.Contains(reason, "500") {
		t.Errorf("rollout.failed reason = %q; want the check critical past fail-after, with its output", reason)
	}
	back := a.waitEvent("rollback.applied", time.Minute, func(e map[string]any) bool { return e["job"] == id && e["to_commit"] == good })
	// The task starts and Consul sees the check within seconds; the
	// deadline is 5 minutes away.
	if took := eventTime(t, back).Sub(startedAt); took > failAfter+time.Second+15*time.Second {
		t.Errorf("rolled back %s after the register; want within fail-after + grace + 15s", took)
	}
}

// TestRollout_SlowStarterIsNotFailedByFailAfter: a service critical for its
// first 20s and passing after is not rolled back with a 30s fail-after.
func TestRollout_SlowStarterIsNotFailedByFailAfter(t *testing.T) {
	t.Parallel()
	const id = "ro-slowstart"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a := startAgent(t, append(syncArgs(r, id), "--interval", "1h", "--health-min-healthy", "2s", "--bake", "2s",
		"--health-fail-after", "30s")...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, good))

	slow := r.commit("slow", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthyFor: "20s"})})
	a.sync()
	a.waitEvent("rollout.healthy", 2*time.Minute, onCommit(id, slow))
	for _, ev := range []string{"rollout.failed", "rollback.applied"} {
		if n := len(testutil.EventsIn(a.log.String(), ev)); n != 0 {
			t.Errorf("%d %s events for a slow starter", n, ev)
		}
	}
}

func eventTime(t *testing.T, e map[string]any) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, fmt.Sprint(e["time"]))
	if err != nil {
		t.Fatalf("event time %v: %v", e["time"], err)
	}
	return ts
}

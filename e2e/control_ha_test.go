//go:build unix

package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestControl_SuspendThroughAStandby: POST /v1/suspend and /v1/resume on a
// standby replica write Consul directly; the leader, watching the key,
// holds the job at once and applies it once resumed.
func TestControl_SuspendThroughAStandby(t *testing.T) {
	t.Parallel()
	const id = "ctl-ha"
	r := newRepo(t)
	r.commit("job", map[string]string{id + ".nomad.hcl": helloJob(id, "1.0.0")})
	rs := startReplicas(t, haSetup{repo: r, instance: "ctl-ha", n: 2, args: []string{"--interval", "1h"}})
	leader := waitLeader(t, rs, nil, haElection)
	standby := others(rs, leader)[0]
	leader.waitEvent("job.applied", time.Minute, forJob(id))

	m := leader.mark()
	if code, body := post(t, "http://"+standby.addr+"/v1/suspend", nil, []byte(`{"jobs":["`+id+`"],"reason":"release freeze","by":"carol"}`)); code != http.StatusOK {
		t.Fatalf("POST /v1/suspend on the standby: %d %s", code, body)
	}
	leader.waitFor(m, "control.suspended", 30*time.Second, "the leader sees the standby's write", func(e map[string]any) bool {
		return e["scope"] == "default/"+id && e["by"] == "carol"
	})
	r.commit("2.0.0", map[string]string{id + ".nomad.hcl": helloJob(id, "2.0.0")})
	leader.syncNow("")
	held := leader.waitFor(m, "job.held", 10*time.Second, "the new commit held", forJob(id))
	if reason, _ := held["reason"].(string); !strings.HasPrefix(reason, "suspended by carol") {
		t.Errorf("job.held reason %q", reason)
	}
	if n := leader.countAfter(m, "job.applied", forJob(id)); n != 0 {
		t.Fatalf("a suspended job was applied %d times", n)
	}

	m = leader.mark()
	if code, body := post(t, "http://"+standby.addr+"/v1/resume", nil, []byte(`{"jobs":["default/`+id+`"]}`)); code != http.StatusOK {
		t.Fatalf("POST /v1/resume on the standby: %d %s", code, body)
	}
	leader.waitFor(m, "job.applied", 30*time.Second, "applied once resumed", forJob(id))
}

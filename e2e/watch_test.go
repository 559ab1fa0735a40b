package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

// counts reads sync.done's counts.
func counts(ev map[string]any) map[string]float64 {
	out := map[string]float64{}
	c, _ := ev["counts"].(map[string]any)
	for k, v := range c {
		n, _ := v.(float64)
		out[k] = n
	}
	return out
}

// TestAgent_WatchCorrectsHandEditWithoutWaitingForTheInterval: with an
// interval of an hour, the cluster watch alone brings a hand edit to a
// cycle; that cycle plans only the edited job, and a quiet cluster costs no
// plan calls at all (once the jobs the agent created unplanned were
// planned once).
func TestAgent_WatchCorrectsHandEditWithoutWaitingForTheInterval(t *testing.T) {
	r := newRepo(t)
	r.commit("jobs", map[string]string{
		"watch-a.nomad.hcl": helloJob("watch-a", "1.0.0"),
		"watch-b.nomad.hcl": helloJob("watch-b", "1.0.0"),
	})
	a := startAgent(t, append(syncArgs(r, "watch"), "--interval", "1h")...)
	a.waitEvent("job.applied", time.Minute, func(e map[string]any) bool { return e["job"] == "watch-a" })
	waitHealthy(t, "watch-a", 1)
	waitHealthy(t, "watch-b", 1)
	testutil.WaitFor(t, 60*time.Second, "deployments finished", func() (bool, string) {
		for _, id := range []string{"watch-a", "watch-b"} {
			d, _, err := env.cluster.Nomad().Jobs().LatestDeployment(id, nil)
			if err != nil || d == nil || d.Status != "successful" {
				return false, fmt.Sprintf("%s: %v %v", id, d, err)
			}
		}
		return true, ""
	})

	// The jobs settle (allocations start, deployments finish); the watch
	// may run a cycle or two for that. The cycle the test asks for runs
	// after them, and once it has finished the cluster is quiet.
	// The agent registered both jobs without planning them (they were
	// new); the first cycle after that plans each once, to learn that
	// everything was placed, whatever started it.
	a.syncNow("")
	var plannedAfter float64
	for _, e := range testutil.EventsIn(a.log.String(), "sync.done")[1:] {
		plannedAfter += counts(e)["planned"]
	}
	if plannedAfter != 2 {
		t.Errorf("after the registering cycle, %v plans in all, want each new job planned once", plannedAfter)
	}
	quiet := len(testutil.EventsIn(a.log.String(), "sync.done"))
	r.git("commit", "-q", "--allow-empty", "-m", "no job changes")
	a.syncNow("")
	for _, e := range testutil.EventsIn(a.log.String(), "sync.done")[quiet:] {
		if c := counts(e); c["planned"] != 0 || c["in_sync"] != 2 {
			t.Errorf("a cycle with nothing changed planned %v jobs (counts %v), want 0 of 2 in sync", c["planned"], c)
		}
	}

	// A hand edit the way an operator makes one: read, change, register.
	before := len(testutil.EventsIn(a.log.String(), "sync.done"))
	startsBefore := len(testutil.EventsIn(a.log.String(), "sync.start"))
	job := nomadJob(t, "watch-a")
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"HAND": "edit"}
	if _, _, err := env.cluster.Nomad().Jobs().Register(job, nil); err != nil {
		t.Fatalf("hand edit: %v", err)
	}
	drift := a.waitEvent("job.drift", 30*time.Second, func(e map[string]any) bool { return e["job"] == "watch-a" })
	if !strings.Contains(fmt.Sprint(drift["changes"]), `Env[HAND]: "edit" => ""`) {
		t.Errorf("job.drift changes = %v", drift["changes"])
	}
	a.waitEvent("job.applied", 30*time.Second, func(e map[string]any) bool {
		return e["job"] == "watch-a" && e["class"] == "drift"
	})
	if env := nomadJob(t, "watch-a").TaskGroups[0].Tasks[0].Env; env["HAND"] != "" {
		t.Errorf("hand edit not restored: env %v", env)
	}
	var corrected map[string]any
	for _, e := range testutil.EventsIn(a.log.String(), "sync.done")[before:] {
		if c := counts(e); c["drift"] == 1 {
			corrected = e
			break
		}
	}
	if corrected == nil {
		t.Fatalf("no sync.done with the drift after the hand edit")
	}
	if c := counts(corrected); c["planned"] != 1 || c["applied"] != 1 {
		t.Errorf("the correcting cycle counts %v: want only the edited job planned and applied", c)
	}
	for _, e := range testutil.EventsIn(a.log.String(), "sync.start")[startsBefore:] {
		if e["reason"] != "cluster" {
			t.Errorf("a cycle after the hand edit started for %v, want only the cluster watch", e["reason"])
		}
	}
}

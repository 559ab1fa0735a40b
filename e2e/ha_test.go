//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testcluster"
	"github.com/drover-dev/drover/internal/testutil"

	"github.com/drover-dev/drover/internal/faultproxy"
)

// The HA scenarios (issue 9): several drover processes of one --instance,
// real Nomad and Consul. One leads and acts; the others stand by, answer
// for it and pass requests on; when the leader dies or freezes another
// takes over and finishes its work, and the old one writes nothing more.

// TestHA_FlagsExist: the HA flags and their environment variables, which
// the scenarios below set through the environment.
func TestHA_FlagsExist(t *testing.T) {
	t.Parallel()
	help := drover(t, "agent", "--help")
	for _, want := range []string{"--ha", "--leader-ttl", "--advertise", "DROVER_HA", "DROVER_LEADER_TTL", "DROVER_ADVERTISE"} {
		if !strings.Contains(help.stdout, want) {
			t.Errorf("drover agent --help does not list %s", want)
		}
	}
}

// TestHA_OneLeaderDeploysTheOthersStandBy: three replicas started together
// elect one leader; only it syncs, and a commit is registered once. The
// others are healthy standbys that answer /v1/status with the leader's
// report and their own role.
func TestHA_OneLeaderDeploysTheOthersStandBy(t *testing.T) {
	t.Parallel()
	const id = "ha-one"
	r := newRepo(t)
	first := r.commit("v1", map[string]string{"app.nomad.hcl": batchJob(id, "1")})
	rs := startReplicas(t, haSetup{repo: r, instance: id, n: 3, args: []string{"--interval", "1h"}})
	leader := waitLeader(t, rs, nil, haElection)
	followers := others(rs, leader)

	leader.waitFor(0, "job.applied", time.Minute, "the first commit", onCommit(id, first))
	leader.waitFor(0, "sync.done", time.Minute, "the first cycle", okCycle)
	before := jobVersions(t, id)

	second := r.commit("v2", map[string]string{"app.nomad.hcl": batchJob(id, "2")})
	leader.syncNow("")
	if n := leader.count("job.applied", id, second); n != 1 {
		t.Errorf("the leader registered the commit %d times, want once", n)
	}
	if got := jobVersions(t, id); len(got) != len(before)+1 || got[len(got)-1] != second {
		t.Errorf("Nomad job versions went from %q to %q, want one more, at %s", before, got, second)
	}
	for _, f := range followers {
		// The leader has run two cycles: a replica that synced on its
		// own would have started its first long ago.
		if n := len(f.eventsAfter(0, "sync.start")); n != 0 {
			t.Errorf("standby %s started %d cycles", f.id, n)
		}
		if n := len(f.eventsAfter(0, "job.applied")); n != 0 {
			t.Errorf("standby %s registered %d jobs", f.id, n)
		}
	}

	mine := waitRole(t, leader, "leader", leader.id, 10*time.Second)
	if mine.Commit != second || mine.jobClass(id) == "" {
		t.Errorf("leader's /v1/status: commit %q, %s's class %q; want %s and a class", mine.Commit, id, mine.jobClass(id), second)
	}
	waitHealthz(leader.agentProc, http.StatusOK, 10*time.Second, "ok")
	if g := leaderGauge(t, leader); g != 1 {
		t.Errorf("drover_leader on the leader %s = %v, want 1", leader.id, g)
	}
	for _, f := range followers {
		waitHealthz(f.agentProc, http.StatusOK, 10*time.Second, "standby, leader is "+leader.id, "http://"+leader.addr)
		v := waitRole(t, f, "standby", leader.id, 10*time.Second)
		if v.HA.Error != "" || v.HA.Leader.Advertise != "http://"+leader.addr || v.HA.Leader.Instance != id {
			t.Errorf("%s's ha.leader = %+v, error %q; want %s at http://%s, instance %s", f.id, *v.HA.Leader, v.HA.Error, leader.id, leader.addr, id)
		}
		// The leader's report, fetched from it. The leader may run
		// another cycle between two reads (Nomad marking the version
		// stable moves the job's index), so both are read until a pair
		// agrees, each read at most once a poll.
		testutil.WaitFor(t, 10*time.Second, f.id+"'s /v1/status is the leader's", func() (bool, string) {
			theirs, err := haStatus(f.agentProc)
			if err != nil {
				return false, err.Error()
			}
			mine, err := haStatus(leader.agentProc)
			if err != nil {
				return false, err.Error()
			}
			return theirs.Commit == second && mine.Commit == second && theirs.jobClass(id) == mine.jobClass(id),
				fmt.Sprintf("commit %q, %s's class %q; the leader's: %q, %q", theirs.Commit, id, theirs.jobClass(id), mine.Commit, mine.jobClass(id))
		})
		if g := leaderGauge(t, f); g != 0 {
			t.Errorf("drover_leader on standby %s = %v, want 0", f.id, g)
		}
	}
	if onlyLeader(t, rs, nil) != leader {
		t.Errorf("the lead moved during the test")
	}
}

// TestHA_LeaderKilledMidBadRolloutIsRolledBackOnceByTheNext: the leader is
// SIGKILLed (no resignation) while a bad commit's rollout is watched.
// Another replica takes over within the lease's bound, resumes the watch
// and rolls the job back, once across all replicas.
func TestHA_LeaderKilledMidBadRolloutIsRolledBackOnceByTheNext(t *testing.T) {
	t.Parallel()
	const id = "ha-kill"
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	rs := startReplicas(t, haSetup{repo: r, instance: id, n: 3, args: faultRolloutArgs})
	old := waitLeader(t, rs, nil, haElection)
	old.waitFor(0, "rollout.healthy", 90*time.Second, "good commit", onCommit(id, good))

	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	old.sync()
	old.waitFor(0, "rollout.started", time.Minute, "bad commit", onCommit(id, bad))
	m := markAll(rs)
	old.kill()
	killed := time.Now()
	if old.count("rollout.failed", id, bad) != 0 {
		t.Fatal("the rollout failed before the leader was killed; the test proves nothing")
	}

	survivors := others(rs, old)
	next := waitLeader(t, survivors, m, haTakeover)
	t.Logf("%s took over from %s %s after the kill", next.id, old.id, time.Since(killed).Round(time.Second))
	next.waitFor(m[next], "rollout.resumed", 30*time.Second, "the watch the killed leader left", onCommit(id, bad))
	next.waitFor(m[next], "rollback.applied", 90*time.Second, "rollback to the good commit", func(e map[string]any) bool {
		return e["job"] == id && e["from_commit"] == bad && e["to_commit"] == good
	})
	next.waitFor(m[next], "rollout.healthy", 90*time.Second, "the rollback's rollout", func(e map[string]any) bool {
		return e["job"] == id && e["commit"] == good && e["kind"] == "rollback"
	})
	// Nothing more happens: a cycle now finds the job where it should be.
	next.syncNow("")

	n := 0
	for _, x := range rs {
		n += x.countAfter(0, "rollback.applied", forJob(id))
	}
	if n != 1 {
		t.Errorf("%d rollback.applied across the replicas, want exactly one", n)
	}
	if got, want := jobVersions(t, id), []string{good, bad, good}; !slices.Equal(got, want) {
		t.Errorf("Nomad job versions (commits) = %q, want good, bad, one rollback: %q", got, want)
	}
	for _, f := range others(survivors, next) {
		if k := len(f.eventsAfter(0, "sync.start")) + len(f.eventsAfter(0, "job.applied")); k != 0 {
			t.Errorf("standby %s started cycles or registered (%d events)", f.id, k)
		}
	}
}

// haQuietWindow is how long the frozen leader is watched after it said it
// lost the lead: long enough for the work it had pending to come due if
// it were still running (see TestHA_FrozenLeaderResumesAndWritesNothing).
// Its rollout's deadline ran out during the freeze, so a verdict is due at
// the first answer its health watch reads (the one Consul sent during the
// freeze waits in its socket), or at worst after the 2s healthy time and
// the 3s bake; and slack.
const haQuietWindow = 2*time.Second + 3*time.Second + 5*time.Second

// TestHA_FrozenLeaderResumesAndWritesNothing: the leader is frozen
// (SIGSTOP) past its lease while a rollout is watched; another replica
// takes over and judges it; the old leader is continued (SIGCONT): it
// says it lost the lead, and neither Nomad nor Consul gets a write from it.
//
// Why this proves the fence and does not pass by itself:
//
//   - The old leader has work pending when it resumes, whose writes would
//     differ from the new leader's. It is frozen right after registering
//     a commit, its rollout watched, no verdict yet; the rollout's deadline
//     runs out during the freeze. Resumed and still acting, it would reach
//     its own verdict (healthy, or failed at the deadline) and write it
//     over the new leader's record of the same rollout: the ledger adopts
//     the new copy on a conflict and applies the change on top, so a plain
//     compare-and-set lands, and a different finish time is a different
//     value (Consul keeps the ModifyIndex of a write that changes nothing,
//     which is why a bad rollout, whose stale verdict and rollback repeat
//     the new leader's exactly, would prove nothing here). A failed verdict
//     would also roll a healthy deploy back: a Nomad register.
//   - Consul cannot tell it that it lost in time to save it. Before the
//     freeze, its session and lock traffic (/v1/session/*, the lock key's
//     reads and acquires) is held at its Consul proxy, answers included:
//     the lock monitor's blocking query, answered when the new leader took
//     the key, and every renew, which Consul would answer "no such
//     session", hang. Only the lease (Term.Valid: last renew older than
//     the TTL) can stop it, and must make it say leader.lost by itself;
//     its state writes, a transaction with a session check, pass through,
//     so Consul itself refuses them.
//   - The old leader reaches Nomad through a proxy that logs every
//     request: any write it sends after the thaw is seen, even one Nomad
//     refuses (check-index) and that would not move the job's version.
//   - The KV check reads every key under the state prefix, with the test's
//     own client, after the new leader settled (verdict, one more cycle),
//     then all through haQuietWindow after leader.lost, and at the end;
//     the only key that may move is the trigger key the old leader writes
//     as a follower, which the scenario asks of it on purpose (POST
//     /v1/sync to it) so that the end of the test is a fact: the new
//     leader ran that forwarded cycle and finished it.
//
// Checked against deliberately broken builds, each of which fails here: no
// lease (the old leader never says leader.lost while Consul's word is held,
// and its verdict lands in the state); a lease but work that outlives it
// with unfenced state writes (its verdict lands); a lease and fenced state
// but work that outlives it (Consul refuses the writes, but it goes on
// acting as leader: its log gives it away).
//
// A gap no end-to-end test can schedule: a state write that passed the
// lease check an instant before the lease ran out and reached Consul
// after. That is what the session check in the transaction is for; the
// state and leader packages' tests exercise it against a real Consul.
func TestHA_FrozenLeaderResumesAndWritesNothing(t *testing.T) {
	t.Parallel()
	const id = "ha-freeze"
	r := newRepo(t)
	first := r.commit("v1", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	setup := haSetup{repo: r, instance: id, n: 2, args: faultRolloutArgs, proxied: true}
	rs := startReplicas(t, setup)
	old := waitLeader(t, rs, nil, haElection)
	next := others(rs, old)[0]
	old.waitFor(0, "rollout.healthy", 90*time.Second, "first commit", onCommit(id, first))

	second := r.commit("v2", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.1.0"})})
	before := old.mark()
	old.sync()
	old.waitFor(before, "rollout.started", time.Minute, "second commit", onCommit(id, second))
	// The cycle that registered it is over: no register is in flight at
	// the freeze.
	old.waitFor(before, "sync.done", time.Minute, "the second commit's cycle", nil)

	leadership := []faultproxy.Rule{
		{PathPrefix: "/v1/session/"},
		{Path: "/v1/kv/" + setup.prefix() + "leader"},
	}
	setAll(old.f.consul, leadership, faultproxy.Hang())
	m := markAll(rs)
	nomadBefore := len(old.f.nomad.Requests())
	consulBefore := len(old.f.consul.Requests())
	old.freeze()
	frozen := time.Now()
	verdicts := []string{"rollout.healthy", "rollout.failed", "rollout.unknown", "rollout.superseded"}
	for _, ev := range verdicts {
		if old.count(ev, id, second) != 0 {
			t.Fatalf("the rollout had a verdict (%s) before the freeze; the old leader has nothing pending and the test proves nothing", ev)
		}
	}

	waitLeader(t, []*replica{next}, m, haTakeover)
	t.Logf("%s took over from the frozen %s after %s", next.id, old.id, time.Since(frozen).Round(time.Second))
	next.waitFor(m[next], "rollout.resumed", 30*time.Second, "the frozen leader's watch", onCommit(id, second))
	next.waitFor(m[next], "rollout.healthy", 90*time.Second, "the resumed rollout", onCommit(id, second))
	next.syncNow("")
	acquired := next.waitFor(m[next], "leader.acquired", time.Second, "the new leader", nil)

	// The settled state, before the old leader runs again.
	versions := jobVersions(t, id)
	if want := []string{first, second}; !slices.Equal(versions, want) {
		t.Fatalf("Nomad job versions (commits) = %q before the thaw, want %q", versions, want)
	}
	consul := env.cluster.Consul()
	indexes := kvIndexes(t, consul, setup.prefix())
	leaderKey := setup.prefix() + "leader"
	triggerKey := setup.prefix() + "trigger"

	thawed := old.mark()
	lostAt := -1
	// writes lists what the old process did that it must not have: since
	// the thaw, a Nomad write or a state key changed (but the trigger
	// key); since it said it lost the lead, any sign of acting as leader.
	writes := func() []string {
		var out []string
		for _, w := range nomadWrites(old.f.nomad.Requests()[nomadBefore:]) {
			out = append(out, "Nomad: "+w)
		}
		if got := jobVersions(t, id); !slices.Equal(got, versions) {
			out = append(out, fmt.Sprintf("Nomad job versions moved from %q to %q", versions, got))
		}
		after := kvIndexes(t, consul, setup.prefix())
		for key, idx := range after {
			switch {
			case key == triggerKey:
			case indexes[key] == 0:
				out = append(out, fmt.Sprintf("state key %s appeared (index %d)", key, idx))
			case idx != indexes[key]:
				out = append(out, fmt.Sprintf("state key %s written: ModifyIndex %d → %d", key, indexes[key], idx))
			}
		}
		for key := range indexes {
			if _, ok := after[key]; !ok {
				out = append(out, "state key "+key+" deleted")
			}
		}
		for _, ev := range []string{"job.applied", "job.pruned", "rollback.applied"} {
			if n := old.countAfter(thawed, ev, nil); n != 0 {
				out = append(out, fmt.Sprintf("%d %s since the thaw", n, ev))
			}
		}
		if lostAt >= 0 {
			for _, ev := range append([]string{"sync.start", "rollout.started", "job.quarantined", "leader.acquired"}, verdicts...) {
				if n := old.countAfter(lostAt, ev, nil); n != 0 {
					out = append(out, fmt.Sprintf("%d %s since leader.lost", n, ev))
				}
			}
		}
		return out
	}

	old.thaw()
	lost := old.waitFor(thawed, "leader.lost", haLeaseLapse,
		"the old leader giving up on its own lease, Consul's word being held from it", nil)
	if lost["id"] != old.id || fmt.Sprint(lost["reason"]) == "" || lost["level"] != "warn" {
		t.Errorf("leader.lost = %v; want a warning with id %s and a reason", lost, old.id)
	}
	lostAt = old.mark()
	// The one wait on an absence, and why it is bounded: a fenced process
	// does nothing after leader.lost, so there is no later fact to wait
	// on; an unfenced one would act on what it had pending within
	// haQuietWindow. Each poll fails on the first write seen.
	testutil.Throughout(t, haQuietWindow, "the old leader writing nothing after the thaw", func() (bool, string) {
		w := writes()
		return len(w) == 0, "it wrote:\n" + strings.Join(w, "\n")
	})

	// Consul answers it again: it campaigns, finds the lock taken, stands by.
	clearAll(old.f.consul, leadership)
	old.waitFor(thawed, "leader.standby", haTakeover, "the old leader standing by", standingBy(next.id))
	// Activity through the old leader: as a follower it passes the sync
	// on; the new leader runs it.
	code, body := post(t, "http://"+old.addr+"/v1/sync", nil, nil)
	if code != http.StatusAccepted || !strings.Contains(body, "sync triggered on the leader") || !strings.Contains(body, next.id) {
		t.Errorf("POST /v1/sync to the old leader: %d %s; want 202, sync triggered on the leader %s", code, body, next.id)
	}
	next.waitFor(m[next], "sync.start", 30*time.Second, "the sync passed on by the old leader", func(e map[string]any) bool {
		return e["via"] == old.id
	})
	testutil.WaitFor(t, time.Minute, "the forwarded cycle finished", func() (bool, string) {
		logs := next.log.String()[m[next]:]
		started, done := len(testutil.EventsIn(logs, "sync.start")), len(testutil.EventsIn(logs, "sync.done"))
		return started == done, fmt.Sprintf("%d cycles started, %d done", started, done)
	})

	if w := writes(); len(w) != 0 {
		t.Errorf("the old leader wrote after the thaw:\n%s", strings.Join(w, "\n"))
	}
	// For the reader: what the old process sent Consul since the freeze;
	// whatever it was, nothing of it landed (checked above).
	t.Logf("%s's Consul writes since the freeze: %q", old.id, consulWritesIn(old.f.consul.Requests()[consulBefore:]))
	if kv, _, err := consul.KV().Get(leaderKey, nil); err != nil || kv == nil || kv.Session == "" ||
		(acquired["session"] != nil && kv.Session != acquired["session"]) {
		t.Errorf("lock key %s = %+v, %v; want held by %s's session %v", leaderKey, kv, err, next.id, acquired["session"])
	}
}

// TestHA_WebhookToAFollowerDeploysThroughTheLeader: a push webhook load-
// balanced to a standby is authenticated there and deploys: the leader
// runs the cycle, saying which replica passed it on.
func TestHA_WebhookToAFollowerDeploysThroughTheLeader(t *testing.T) {
	t.Parallel()
	const id = "ha-hook"
	r := newRepo(t)
	r.commit("no jobs yet", map[string]string{"README.md": "jobs live here"})
	setup := haSetup{repo: r, instance: id, n: 2, args: []string{"--interval", "1h"},
		env: []string{"DROVER_WEBHOOK_SECRET=" + webhookSecret}}
	rs := startReplicas(t, setup)
	leader := waitLeader(t, rs, nil, haElection)
	follower := others(rs, leader)[0]
	leader.waitFor(0, "sync.done", time.Minute, "the first cycle", okCycle)

	triggerKey := setup.prefix() + "trigger"
	triggerIndex := func() uint64 {
		kv, _, err := env.cluster.Consul().KV().Get(triggerKey, nil)
		if err != nil {
			t.Fatalf("read %s: %v", triggerKey, err)
		}
		if kv == nil {
			return 0
		}
		return kv.ModifyIndex
	}
	sha := r.commit("add the job", map[string]string{"app.nomad.hcl": batchJob(id, "1")})
	// Authenticated on the follower as on any agent: a bad signature is
	// refused there and passes nothing on.
	unsigned := triggerIndex()
	if code, body := githubPush(t, follower.agentProc, "not-the-secret", "refs/heads/main", sha); code != http.StatusUnauthorized {
		t.Fatalf("wrongly signed push to the follower: %d %s, want 401", code, body)
	}
	if got := triggerIndex(); got != unsigned {
		t.Errorf("a refused push wrote the trigger key (index %d → %d)", unsigned, got)
	}

	m := markAll(rs)
	code, body := githubPush(t, follower.agentProc, webhookSecret, "refs/heads/main", sha)
	if code != http.StatusAccepted {
		t.Fatalf("signed push to the follower: %d %s, want 202", code, body)
	}
	var answer struct{ Status, Leader string }
	if err := json.Unmarshal([]byte(body), &answer); err != nil || answer.Status != "sync triggered on the leader" || answer.Leader != leader.id {
		t.Errorf("follower's answer %s (%v); want status \"sync triggered on the leader\", leader %s", body, err, leader.id)
	}
	start := leader.waitFor(m[leader], "sync.start", 30*time.Second, "the cycle the follower passed on", func(e map[string]any) bool {
		return e["via"] == follower.id
	})
	if start["reason"] != "webhook" {
		t.Errorf("forwarded sync.start reason = %v, want webhook", start["reason"])
	}
	leader.waitFor(m[leader], "job.applied", time.Minute, "the pushed commit", onCommit(id, sha))
	if got := runningCommit(t, id); got != sha {
		t.Errorf("job runs %q, want the pushed commit %s", got, sha)
	}
	kv, _, err := env.cluster.Consul().KV().Get(triggerKey, nil)
	if err != nil || kv == nil {
		t.Fatalf("trigger key %s: %v, %v", triggerKey, kv, err)
	}
	var trig struct{ Reason, Via, At string }
	if err := json.Unmarshal(kv.Value, &trig); err != nil || trig.Reason != "webhook" || trig.Via != follower.id || trig.At == "" {
		t.Errorf("trigger key %s = %s (%v); want reason webhook, via %s, at", triggerKey, kv.Value, err, follower.id)
	}
	if n := len(follower.eventsAfter(0, "sync.start")) + len(follower.eventsAfter(0, "job.applied")); n != 0 {
		t.Errorf("the follower ran cycles or registered itself (%d events)", n)
	}
	if onlyLeader(t, rs, nil) != leader {
		t.Errorf("the lead moved during the test")
	}
}

// TestHA_ConsulRestartedConvergesOnOneLeader: Consul goes away under three
// replicas and comes back empty (dev mode); the leader gives up the lead
// on its own lease while Consul is gone, and afterwards exactly one
// replica leads again and a commit deploys once. Consul here is the
// test's own, not the shared cluster's; the job has no Consul service, as
// Nomad registers services in the shared one.
func TestHA_ConsulRestartedConvergesOnOneLeader(t *testing.T) {
	t.Parallel()
	const id = "ha-consul"
	// Its own Consul: the shared one serves every other test.
	c := testcluster.StartConsulOnlyT(t)
	r := newRepo(t)
	first := r.commit("v1", map[string]string{"app.nomad.hcl": batchJob(id, "1")})
	rs := startReplicas(t, haSetup{repo: r, instance: id, n: 3, args: []string{"--interval", "1h"}, consul: c.Addr()})
	old := waitLeader(t, rs, nil, haElection)
	old.waitFor(0, "job.applied", time.Minute, "the first commit", onCommit(id, first))
	old.waitFor(0, "sync.done", time.Minute, "the first cycle", okCycle)

	m := markAll(rs)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	old.waitFor(m[old], "leader.lost", haLeaseLapse, "the leader giving up while Consul is gone", nil)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}

	// A fresh election: the sessions died with Consul's memory. Exactly
	// one replica leads afterwards, and the others know it.
	var leader *replica
	testutil.WaitFor(t, haTakeover, "one leader after the restart", func() (bool, string) {
		leader = onlyLeader(t, rs, m)
		return leader != nil, "no leader.acquired since the restart"
	})
	waitRole(t, leader, "leader", leader.id, 10*time.Second)
	leaders := 0.0
	for _, x := range rs {
		if x != leader {
			waitRole(t, x, "standby", leader.id, haTakeover)
			waitHealthz(x.agentProc, http.StatusOK, 10*time.Second, "standby, leader is "+leader.id)
		}
		leaders += leaderGauge(t, x)
	}
	if leaders != 1 {
		t.Errorf("drover_leader sums to %v over the replicas, want 1", leaders)
	}

	before := jobVersions(t, id)
	second := r.commit("v2", map[string]string{"app.nomad.hcl": batchJob(id, "2")})
	leader.syncNow("")
	applied := 0
	for _, x := range rs {
		applied += x.count("job.applied", id, second)
	}
	if applied != 1 {
		t.Errorf("the commit after the restart was registered %d times across the replicas, want once", applied)
	}
	if got := jobVersions(t, id); len(got) != len(before)+1 || got[len(got)-1] != second {
		t.Errorf("Nomad job versions went from %q to %q, want one more, at %s", before, got, second)
	}
	if onlyLeader(t, rs, m) != leader {
		t.Errorf("the lead moved after the restart's election")
	}
}

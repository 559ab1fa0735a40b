//go:build unix

package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/internal/faultproxy"
	"github.com/drover-dev/drover/internal/testutil"
	consulapi "github.com/hashicorp/consul/api"
)

// The HA scenarios run several drover processes of one --instance against
// one Consul. Their timing follows from the lease.
const (
	// haTTL is --leader-ttl: Consul's minimum, so failovers are quick.
	haTTL = 10 * time.Second
	// haLockDelay is the LockDelay drover gives its session.
	haLockDelay = 5 * time.Second
	// haSlack absorbs a loaded 2-core machine and Consul's lock retry.
	haSlack = 10 * time.Second
	// haConsulTimeout is --consul-timeout for the replicas: a renew that
	// hangs must fail well inside the TTL.
	haConsulTimeout = 2 * time.Second
	// haElection bounds the first election of replicas started together.
	haElection = 30 * time.Second
	// haTakeover bounds a takeover after a leader died without resigning:
	// Consul invalidates a session up to 2×TTL after its last renew, then
	// the lock delay holds the key.
	haTakeover = 2*haTTL + haLockDelay + haSlack
	// haLeaseLapse bounds how long a leader that cannot renew takes to
	// give up on its own: the TTL, one renew call timing out, slack.
	haLeaseLapse = haTTL + haConsulTimeout + haSlack
)

// replica is one drover process of an HA instance. Its id is set through
// NOMAD_ALLOC_ID, so the events and /v1/status can be checked by name.
type replica struct {
	*agentProc
	id string
	// f are the fault proxies the replica reaches Nomad and Consul
	// through; nil when it talks to them directly.
	f *faults
}

// haSetup says how a test's replicas run.
type haSetup struct {
	repo     *repo
	instance string
	n        int
	// args come after --repo and --instance: rollout settings, --interval.
	args []string
	// env is added to every replica's environment.
	env []string
	// proxied puts each replica behind fault proxies of its own.
	proxied bool
	// consul is CONSUL_HTTP_ADDR for every replica; "" is the shared
	// cluster's. Not with proxied.
	consul string
}

// prefix is the instance's --state-prefix default.
func (s haSetup) prefix() string { return "drover/" + s.instance + "/" }

// startReplicas starts s.n replicas named replica-a, replica-b, … one
// right after the other, so they campaign together. --leader-ttl is given
// as DROVER_LEADER_TTL, the name the flag's variable has by drover's
// convention: a drover without HA then still starts, and the scenario
// fails on what it does (no leader.acquired), not on a flag it does not
// know; TestHA_FlagsExist checks the flags themselves.
func startReplicas(t *testing.T, s haSetup) []*replica {
	t.Helper()
	if s.proxied && s.consul != "" {
		t.Fatal("haSetup: proxied replicas reach the shared cluster's Consul")
	}
	args := append(syncArgs(s.repo, s.instance), s.args...)
	var rs []*replica
	for i := range s.n {
		id := fmt.Sprintf("replica-%c", 'a'+i)
		e := append([]string{
			"NOMAD_ALLOC_ID=" + id,
			"DROVER_LEADER_TTL=" + haTTL.String(),
			"DROVER_CONSUL_TIMEOUT=" + haConsulTimeout.String(),
		}, s.env...)
		if s.consul != "" {
			e = append(e, "CONSUL_HTTP_ADDR="+s.consul)
		}
		r := &replica{id: id}
		if s.proxied {
			r.f = newFaults(t)
			r.agentProc = r.f.start(t, e, args...)
		} else {
			r.agentProc = startAgentWith(t, e, args...)
		}
		// A failed test's output names whose log is whose.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s listened on %s (pid %d); its log follows", r.id, r.addr, r.cmd.Process.Pid)
			}
		})
		rs = append(rs, r)
	}
	return rs
}

// marks is where each replica's log stood at a moment of the test.
type marks map[*replica]int

func markAll(rs []*replica) marks {
	m := marks{}
	for _, r := range rs {
		m[r] = r.mark()
	}
	return m
}

// holderID reads a leader field: the holder's id, or the holder object.
func holderID(v any) string {
	switch h := v.(type) {
	case string:
		return h
	case map[string]any:
		id, _ := h["id"].(string)
		return id
	}
	return ""
}

// standingBy selects the leader.standby events that name leader.
func standingBy(leader string) func(map[string]any) bool {
	return func(e map[string]any) bool { return holderID(e["leader"]) == leader }
}

// waitLeader waits until exactly one of rs logged leader.acquired since
// its mark (a nil mark is the start of the log), under its own id and
// advertising its own address, and every other one logged leader.standby
// naming it. A second leader.acquired fails the test at once.
func waitLeader(t *testing.T, rs []*replica, m marks, timeout time.Duration) *replica {
	t.Helper()
	var leader *replica
	var acquired map[string]any
	testutil.WaitFor(t, timeout, "one replica leading, the others standing by", func() (bool, string) {
		leader = onlyLeader(t, rs, m)
		if leader == nil {
			return false, "no leader.acquired yet"
		}
		for _, r := range rs {
			if r != leader && r.countAfter(m[r], "leader.standby", standingBy(leader.id)) == 0 {
				return false, fmt.Sprintf("%s leads; %s has not logged leader.standby naming it", leader.id, r.id)
			}
		}
		acquired = leader.eventsAfter(m[leader], "leader.acquired")[0]
		return true, ""
	})
	if acquired["id"] != leader.id {
		t.Errorf("%s logged leader.acquired under id %v, want %s (NOMAD_ALLOC_ID)", leader.id, acquired["id"], leader.id)
	}
	if want := "http://" + leader.addr; acquired["advertise"] != want {
		t.Errorf("%s leader.acquired advertise = %v, want %s (from --listen)", leader.id, acquired["advertise"], want)
	}
	return leader
}

// onlyLeader is the replica of rs that logged leader.acquired since its
// mark, nil when none did; more than one leader.acquired fails the test
// at once, listing them.
func onlyLeader(t *testing.T, rs []*replica, m marks) *replica {
	t.Helper()
	var leader *replica
	var acquired []string
	for _, r := range rs {
		for _, e := range r.eventsAfter(m[r], "leader.acquired") {
			acquired = append(acquired, fmt.Sprintf("%s logged %v", r.id, e))
			leader = r
		}
	}
	if len(acquired) > 1 {
		t.Fatalf("more than one leader.acquired:\n%s", strings.Join(acquired, "\n"))
	}
	return leader
}

// others are the replicas of rs but not.
func others(rs []*replica, not ...*replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if !slices.Contains(not, r) {
			out = append(out, r)
		}
	}
	return out
}

// kill sends SIGKILL to the agent (only its PID) and waits until it is gone.
func (a *agentProc) kill() {
	a.t.Helper()
	if err := a.cmd.Process.Kill(); err != nil {
		a.t.Fatalf("kill agent: %v", err)
	}
	<-a.done
}

// freeze stops the agent with SIGSTOP (only its PID): the process neither
// runs nor dies, as a VM paused or a long GC pause. thaw continues it; a
// test that ends while it is frozen thaws it first, so it can stop.
func (a *agentProc) freeze() {
	a.t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		a.t.Fatalf("SIGSTOP agent: %v", err)
	}
	// Registered after the agent's own cleanup, so it runs before it.
	a.t.Cleanup(func() { _ = a.cmd.Process.Signal(syscall.SIGCONT) })
}

func (a *agentProc) thaw() {
	a.t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		a.t.Fatalf("SIGCONT agent: %v", err)
	}
}

// haView is /v1/status as the HA scenarios read it: HA is never nil.
type haView struct{ api.Status }

// leaderID is the id of the leader the view names, "" for none.
func (v haView) leaderID() string {
	if v.HA.Leader == nil {
		return ""
	}
	return v.HA.Leader.ID
}

// jobClass is the class the view's report gives the job, "" when absent.
func (v haView) jobClass(job string) api.Class {
	if j := reportedJob(v.Status, job); j != nil {
		return j.Class
	}
	return ""
}

// haStatus reads /v1/status; the error says why there is no view.
func haStatus(a *agentProc) (haView, error) {
	st, err := readStatus(a)
	if err == nil && st.HA == nil {
		err = fmt.Errorf("GET /v1/status: no ha: %+v", st)
	}
	return haView{st}, err
}

// waitRole waits until the replica's /v1/status says role, naming leader
// as the leader, and returns that view.
func waitRole(t *testing.T, r *replica, role api.Role, leader string, timeout time.Duration) haView {
	t.Helper()
	var v haView
	testutil.WaitFor(t, timeout, fmt.Sprintf("%s's /v1/status: role %s, leader %s", r.id, role, leader), func() (bool, string) {
		var err error
		if v, err = haStatus(r.agentProc); err != nil {
			return false, err.Error()
		}
		ok := v.HA.Role == role && v.HA.ID == r.id && v.leaderID() == leader
		return ok, fmt.Sprintf("ha = %+v, leader %s", v.HA, v.leaderID())
	})
	return v
}

// leaderGauge is drover_leader on the replica's /metrics, -1 when absent.
func leaderGauge(t *testing.T, r *replica) float64 {
	t.Helper()
	code, body := agentGet(r.agentProc, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("%s GET /metrics: %d %s", r.id, code, body)
	}
	return metric(body, "drover_leader")
}

// jobVersions are the commits of the job's versions in Nomad, indexed by
// version: what was registered, in order.
func jobVersions(t *testing.T, id string) []string {
	t.Helper()
	versions, _, _, err := env.cluster.Nomad().Jobs().Versions(id, false, nil)
	if err != nil {
		t.Fatalf("versions of %s: %v", id, err)
	}
	out := make([]string, len(versions))
	for _, j := range versions {
		v := int(*j.Version)
		if v >= len(out) {
			t.Fatalf("job %s has version %d among %d versions: Nomad dropped old ones; the test cannot count", id, v, len(versions))
		}
		out[v] = j.Meta["drover.commit"]
	}
	return out
}

// kvIndexes are the ModifyIndex of every key under prefix.
func kvIndexes(t *testing.T, c *consulapi.Client, prefix string) map[string]uint64 {
	t.Helper()
	pairs, _, err := c.KV().List(prefix, nil)
	if err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	out := map[string]uint64{}
	for _, p := range pairs {
		out[p.Key] = p.ModifyIndex
	}
	return out
}

// nomadWrites are the requests among reqs that change something in Nomad:
// every method but GET, except the parse, plan and validate calls, which
// only read.
func nomadWrites(reqs []faultproxy.Request) []string {
	var out []string
	for _, r := range reqs {
		readOnly := r.Method == http.MethodGet || r.Method == http.MethodHead ||
			r.Path == "/v1/jobs/parse" || r.Path == "/v1/validate/job" ||
			(strings.HasPrefix(r.Path, "/v1/job/") && strings.HasSuffix(r.Path, "/plan"))
		if !readOnly {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// consulWritesIn are the requests among reqs that would change Consul.
func consulWritesIn(reqs []faultproxy.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			q := ""
			if r.Query != "" {
				q = "?" + r.Query
			}
			out = append(out, r.Method+" "+r.Path+q)
		}
	}
	return out
}

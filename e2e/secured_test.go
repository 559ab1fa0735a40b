package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testcluster"
	"github.com/drover-dev/drover/internal/testutil"
)

// TestSecured_ACL_DeployHandEditRollback runs the agent on a cluster with
// ACLs on (default deny) with tokens made from exactly the example
// policies: they are all it needs to deploy, correct a hand edit and
// roll back a bad commit.
func TestSecured_ACL_DeployHandEditRollback(t *testing.T) {
	s := startSecured(t, testcluster.Options{ACL: true})
	env := s.tokens(t, "drover", examplePolicy(t, "nomad-policy.hcl"), examplePolicy(t, "consul-policy.hcl"))
	const id = "sec-acl"
	r := newRepo(t)
	good := r.commit("good", map[string]string{id + ".nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a := startAgentWith(t, env, append(syncArgs(r, id), rolloutArgs...)...)
	s.deployEditRollback(t, a, r, id, good)
}

// TestSecured_MTLS_DeployHandEditRollback is the same on agents that
// require mutual TLS on their HTTP APIs, configured the standard way
// (NOMAD_CACERT… and CONSUL_CACERT…): every call, the event streams
// included, goes over it.
func TestSecured_MTLS_DeployHandEditRollback(t *testing.T) {
	s := startSecured(t, testcluster.Options{ACL: true, TLS: true})
	env := s.tokens(t, "drover", examplePolicy(t, "nomad-policy.hcl"), examplePolicy(t, "consul-policy.hcl"))
	const id = "sec-tls"
	r := newRepo(t)
	good := r.commit("good", map[string]string{id + ".nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a := startAgentWith(t, env, append(syncArgs(r, id), rolloutArgs...)...)
	s.deployEditRollback(t, a, r, id, good)

	t.Run("wrong CA", func(t *testing.T) {
		other, err := testcluster.NewCA(t.TempDir(), "other")
		if err != nil {
			t.Fatal(err)
		}
		wrong := append(env, "NOMAD_CACERT="+other.CertPEM, "CONSUL_CACERT="+other.CertPEM)
		res := droverWith(t, wrong, append([]string{"check"}, syncArgs(r, id)...)...)
		for _, want := range []string{"✗ nomad: reachable", "✗ consul: reachable", "not signed by the CA in NOMAD_CACERT", "not signed by the CA in CONSUL_CACERT"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("check with the wrong CA lacks %q (exit %d):\n%s", want, res.code, res.stdout)
			}
		}
		if res.code != 1 {
			t.Errorf("check with the wrong CA: exit %d, want 1", res.code)
		}
		// The agent refuses to start, saying why, rather than run and
		// fail every call.
		agent := droverWith(t, wrong, append([]string{"agent", "--listen", freeAddr(t)}, syncArgs(r, id)...)...)
		if agent.code != 1 || !strings.Contains(agent.stderr, "not signed by the CA in NOMAD_CACERT") {
			t.Errorf("agent with the wrong CA: exit %d, want 1 naming NOMAD_CACERT:\n%s", agent.code, agent.stderr)
		}
	})
}

// TestSecured_TokenFilesRotatedWithoutRestart gives the agent its tokens
// in files, then mid-life writes new tokens there and revokes the old
// ones: the next deploy goes through with the new ones, no restart, and
// no token ever reaches the log.
func TestSecured_TokenFilesRotatedWithoutRestart(t *testing.T) {
	s := startSecured(t, testcluster.Options{ACL: true})
	nomadRules, consulRules := examplePolicy(t, "nomad-policy.hcl"), examplePolicy(t, "consul-policy.hcl")
	dir := t.TempDir()
	nomadFile, consulFile := filepath.Join(dir, "nomad_token"), filepath.Join(dir, "consul_token")
	issue := func(name string) (nomadAccessor, consulAccessor string, secrets []string) {
		t.Helper()
		na, ns, err := s.c.NomadToken(t.Context(), name, nomadRules)
		if err != nil {
			t.Fatal(err)
		}
		ca, cs, err := s.c.ConsulToken(t.Context(), name, consulRules)
		if err != nil {
			t.Fatal(err)
		}
		// Rename over the old file, as a rotating writer does.
		for path, v := range map[string]string{nomadFile: ns, consulFile: cs} {
			if err := os.WriteFile(path+".new", []byte(v+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}
		return na, ca, []string{ns, cs}
	}
	oldNomad, oldConsul, oldSecrets := issue("drover-one")

	const id = "sec-rotate"
	r := newRepo(t)
	v1 := r.commit("v1", map[string]string{id + ".nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	// The cluster's environment without tokens: only the files hold them.
	a := startAgentWith(t, s.c.Env(), append(syncArgs(r, id), append(rolloutArgs, "--nomad-token-file", nomadFile, "--consul-token-file", consulFile)...)...)
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, v1))

	_, _, newSecrets := issue("drover-two")
	if _, err := s.c.Nomad().ACLTokens().Delete(oldNomad, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.Consul().ACL().TokenDelete(oldConsul, nil); err != nil {
		t.Fatal(err)
	}

	v2 := r.commit("v2", map[string]string{id + ".nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0"})})
	a.sync()
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, v2))
	if got := s.job(t, id).Meta["drover.commit"]; got != v2 {
		t.Errorf("%s runs %s, want %s", id, got, v2)
	}
	log := a.log.String()
	for _, secret := range append(oldSecrets, newSecrets...) {
		if strings.Contains(log, secret) {
			t.Errorf("a token reached the log")
		}
	}
}

// TestSecured_MissingCapabilityStallsTheAgent: a token without submit-job
// in the jobs' namespace stalls the agent, saying which capability in
// which namespace and the policy line to add, in sync.stalled and
// /healthz (503), instead of a per-job error every cycle under a healthy
// agent.
func TestSecured_MissingCapabilityStallsTheAgent(t *testing.T) {
	s := startSecured(t, testcluster.Options{ACL: true})
	rules := without(t, examplePolicy(t, "nomad-policy.hcl"), "submit-job")
	env := s.tokens(t, "no-submit", rules, examplePolicy(t, "consul-policy.hcl"))
	const id = "sec-stall"
	r := newRepo(t)
	r.commit("v1", map[string]string{id + ".nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a := startAgentWith(t, env, append(syncArgs(r, id), rolloutArgs...)...)
	const want = `Nomad token lacks submit-job in namespace "default" (add to its policy: namespace "default" { capabilities = ["submit-job"] })`
	stalled := a.waitEvent("sync.stalled", 60*time.Second, nil)
	if !strings.Contains(fmt.Sprint(stalled["reason"]), want) {
		t.Errorf("sync.stalled reason = %v, want it to contain %q", stalled["reason"], want)
	}
	waitHealthz(a, http.StatusServiceUnavailable, 30*time.Second, want)
}

// TestSecured_LeaderElectionWithTheExamplePolicy: two replicas of one
// instance on an ACL cluster, with tokens from the example policies, elect
// one leader through a Consul session; when it stops, the other takes
// over.
func TestSecured_LeaderElectionWithTheExamplePolicy(t *testing.T) {
	s := startSecured(t, testcluster.Options{ACL: true})
	env := s.tokens(t, "drover", examplePolicy(t, "nomad-policy.hcl"), examplePolicy(t, "consul-policy.hcl"))
	const id = "sec-ha"
	r := newRepo(t)
	r.commit("v1", map[string]string{id + ".nomad.hcl": helloJob(id, "1.0.0")})
	args := append(syncArgs(r, id), "--interval", "1h", "--leader-ttl", haTTL.String())
	a := startAgentWith(t, append(env, "NOMAD_ALLOC_ID=replica-a"), args...)
	b := startAgentWith(t, append(env, "NOMAD_ALLOC_ID=replica-b"), args...)

	var leader, standby *agentProc
	testutil.WaitFor(t, haElection, "one replica leading, the other standing by", func() (bool, string) {
		la, lb := len(testutil.EventsIn(a.log.String(), "leader.acquired")), len(testutil.EventsIn(b.log.String(), "leader.acquired"))
		switch {
		case la+lb > 1:
			t.Fatalf("two leaders: a %d, b %d", la, lb)
		case la == 1:
			leader, standby = a, b
		case lb == 1:
			leader, standby = b, a
		default:
			return false, "no leader.acquired yet"
		}
		return len(testutil.EventsIn(standby.log.String(), "leader.standby")) > 0, "no leader.standby yet"
	})
	leader.waitEvent("job.applied", time.Minute, func(e map[string]any) bool { return e["job"] == id })
	if code := leader.stop(); code != 0 {
		t.Errorf("leader exited %d", code)
	}
	standby.waitEvent("leader.acquired", haTakeover, nil)
}

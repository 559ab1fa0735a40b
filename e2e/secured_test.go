package e2e

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/testcluster"
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
	})
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/testcluster"
)

// secured is a cluster of its own with ACLs (and maybe TLS) on, and the
// environment that points drover at it with tokens made from policies.
type secured struct {
	c *testcluster.Cluster
}

func startSecured(t *testing.T, opts testcluster.Options) secured {
	t.Helper()
	return secured{c: testcluster.StartWithT(t, opts)}
}

// examplePolicy is an examples/acl file's text.
func examplePolicy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "acl", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tokens makes a Nomad and a Consul token from the rules given and
// returns the environment handing them to drover, on top of the
// cluster's addresses (and TLS files), which win over the shared
// cluster's.
func (s secured) tokens(t *testing.T, name, nomadRules, consulRules string) []string {
	t.Helper()
	_, nt, err := s.c.NomadToken(t.Context(), name, nomadRules)
	if err != nil {
		t.Fatal(err)
	}
	_, ct, err := s.c.ConsulToken(t.Context(), name, consulRules)
	if err != nil {
		t.Fatal(err)
	}
	return append(s.c.Env(), "NOMAD_TOKEN="+nt, "CONSUL_HTTP_TOKEN="+ct)
}

// without removes one capability from the example Nomad policy's
// "default" block: the namespace the tests' jobs go to.
func without(t *testing.T, policy, capability string) string {
	t.Helper()
	const line = `  capabilities = ["list-jobs", "read-job", "parse-job", "submit-job"]`
	if !strings.Contains(policy, line) {
		t.Fatalf("example Nomad policy has no line %q", line)
	}
	kept := strings.Replace(strings.Replace(line, `"`+capability+`", `, "", 1), `, "`+capability+`"`, "", 1)
	return strings.Replace(policy, line, kept, 1)
}

// withoutBlock removes the block starting with head from a policy.
func withoutBlock(t *testing.T, policy, head string) string {
	t.Helper()
	i := strings.Index(policy, head)
	if i < 0 {
		t.Fatalf("policy has no block %q", head)
	}
	j := strings.Index(policy[i:], "\n}\n")
	return policy[:i] + policy[i+j+3:]
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testcluster"
	"github.com/drover-dev/drover/internal/testutil"
	"github.com/hashicorp/nomad/api"
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

// job reads a job of the secured cluster with its management token.
func (s secured) job(t *testing.T, id string) *api.Job {
	t.Helper()
	job, _, err := s.c.Nomad().Jobs().Info(id, nil)
	if err != nil {
		t.Fatalf("read job %s: %v", id, err)
	}
	return job
}

// handEdit changes the job the way an operator would, with the
// management token: read, set an environment variable, register.
func (s secured) handEdit(t *testing.T, id string) {
	t.Helper()
	job := s.job(t, id)
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"HAND": "edit"}
	if _, _, err := s.c.Nomad().Jobs().Register(job, nil); err != nil {
		t.Fatalf("hand edit: %v", err)
	}
}

// deployEditRollback is the life of one job under an agent on a secured
// cluster: deployed and judged healthy, a hand edit corrected through the
// cluster watch (the interval is an hour), a bad commit rolled back to the
// good one. Nothing along the way may be refused.
func (s secured) deployEditRollback(t *testing.T, a *agentProc, r *repo, id, good string) {
	t.Helper()
	a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, good))

	s.handEdit(t, id)
	a.waitEvent("job.applied", 60*time.Second, func(e map[string]any) bool { return e["job"] == id && e["class"] == "drift" })
	if env := s.job(t, id).TaskGroups[0].Tasks[0].Env; env["HAND"] != "" {
		t.Errorf("hand edit not corrected: env %v", env)
	}

	bad := r.commit("bad", map[string]string{id + ".nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	a.waitEvent("rollout.failed", 90*time.Second, onCommit(id, bad))
	a.waitEvent("rollback.applied", 60*time.Second, func(e map[string]any) bool { return e["job"] == id && e["to_commit"] == good })
	testutil.WaitFor(t, 30*time.Second, id+" back on the good commit", func() (bool, string) {
		got := s.job(t, id).Meta["drover.commit"]
		return got == good, got
	})
	if log := a.log.String(); strings.Contains(log, "Permission denied") || strings.Contains(log, "response code: 403") || strings.Contains(log, "ACL not found") {
		t.Errorf("a call was refused on the way:\n%s", log)
	}
}

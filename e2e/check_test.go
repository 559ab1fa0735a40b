package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/testcluster"
)

// TestCheck_ExamplePoliciesPassAndEachMissingCapabilityIsNamed runs
// `drover check` against a cluster with ACLs on (default deny): tokens
// made from exactly the example policies pass every check, and with one
// capability taken out at a time it exits 1 naming that capability and
// the line that fixes it.
func TestCheck_ExamplePoliciesPassAndEachMissingCapabilityIsNamed(t *testing.T) {
	s := startSecured(t, testcluster.Options{ACL: true})
	r := newRepo(t)
	r.commit("hello", map[string]string{"check-hello.nomad.hcl": helloJob("check-hello", "v1")})
	nomadRules, consulRules := examplePolicy(t, "nomad-policy.hcl"), examplePolicy(t, "consul-policy.hcl")
	args := append([]string{"check"}, syncArgs(r, "check")...)

	full := s.tokens(t, "full", nomadRules, consulRules)
	res := droverWith(t, full, args...)
	if res.code != 0 {
		t.Fatalf("check with the example policies: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{`✓ nomad: submit-job in namespace "default"`, `✓ consul: KV write and check-and-set under "drover/check/"`, "✓ git: "} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}

	jsonRun := droverWith(t, full, append(args, "--output", "json")...)
	var report struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(jsonRun.stdout), &report); err != nil || !report.OK || len(report.Checks) < 10 {
		t.Errorf("--output json: ok=%v, %d checks, err %v\n%s", report.OK, len(report.Checks), err, jsonRun.stdout)
	}

	for _, capability := range []string{"list-jobs", "read-job", "parse-job", "submit-job"} {
		t.Run("without "+capability, func(t *testing.T) {
			env := s.tokens(t, "no-"+capability, without(t, nomadRules, capability), consulRules)
			res := droverWith(t, env, args...)
			if res.code != 1 {
				t.Errorf("exit %d, want 1\n%s", res.code, res.stdout)
			}
			want := `✗ nomad: ` + capability + ` in namespace "default"`
			fix := `fix: add to the token's policy: namespace "default" { capabilities = ["` + capability + `"] }`
			if !strings.Contains(res.stdout, want) || !strings.Contains(res.stdout, fix) {
				t.Errorf("output lacks %q with %q:\n%s", want, fix, res.stdout)
			}
			if n := strings.Count(res.stdout, "✗"); n != 1 {
				t.Errorf("%d checks failed, want only %s:\n%s", n, capability, res.stdout)
			}
		})
	}

	for _, tc := range []struct{ block, want, fix string }{
		{`session_prefix ""`, "✗ consul: session create and destroy", `session_prefix "" { policy = "write" }`},
		{`service_prefix ""`, "✗ consul: service read", `service_prefix "" { policy = "read" }`},
		{`key_prefix "drover/"`, `✗ consul: KV write and check-and-set under "drover/check/"`, `key_prefix "drover/check/" { policy = "write" }`},
	} {
		t.Run("consul without "+tc.block, func(t *testing.T) {
			env := s.tokens(t, "consul-no-"+strings.ReplaceAll(strings.Fields(tc.block)[0], "_", "-"), nomadRules, withoutBlock(t, consulRules, tc.block))
			res := droverWith(t, env, args...)
			if res.code != 1 || !strings.Contains(res.stdout, tc.want) || !strings.Contains(res.stdout, tc.fix) {
				t.Errorf("exit %d, want 1 naming %q with fix %q:\n%s", res.code, tc.want, tc.fix, res.stdout)
			}
		})
	}

	t.Run("revoked token", func(t *testing.T) {
		env := append(s.tokens(t, "revoked", nomadRules, consulRules), "NOMAD_TOKEN=00000000-0000-0000-0000-000000000000")
		res := droverWith(t, env, args...)
		if res.code != 1 || !strings.Contains(res.stdout, "✗ nomad: token") {
			t.Errorf("exit %d, want 1 naming the Nomad token:\n%s", res.code, res.stdout)
		}
	})
}

package preflight

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNomadGrants_Allows(t *testing.T) {
	rules := map[string]string{
		"a": `namespace "*" { capabilities = ["list-jobs", "read-job"] }
namespace "default" { capabilities = ["list-jobs", "read-job", "parse-job", "submit-job"] }
node { policy = "read" }`,
		"b": `namespace "prod-*" { policy = "write" }
namespace "prod-eu" { policy = "read" }
namespace "locked" { policy = "deny" }`,
		"c": `namespace "locked" { capabilities = ["submit-job"] }
namespace "p*" { capabilities = ["read-job"] }`,
	}
	g, err := parseNomadPolicies(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns, capability string
		want           bool
	}{
		{"default", "submit-job", true},
		{"default", "parse-job", true},
		{"other", "read-job", true},
		{"other", "submit-job", false},
		{"other", "parse-job", false},
		// The closest glob wins: prod-* over p* and *.
		{"prod-us", "submit-job", true},
		{"pizza", "submit-job", false},
		{"pizza", "list-jobs", false},
		{"pizza", "read-job", true},
		// An exact block replaces the globs, and merges across policies.
		{"prod-eu", "submit-job", false},
		{"prod-eu", "parse-job", true},
		// Deny anywhere in a namespace's blocks wins.
		{"locked", "submit-job", false},
	} {
		if got := g.allows(tc.ns, tc.capability); got != tc.want {
			t.Errorf("allows(%q, %q) = %v, want %v", tc.ns, tc.capability, got, tc.want)
		}
	}
}

func TestParseNomadPolicies_ExamplePolicyGrantsWhatDroverNeeds(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "examples", "acl", "nomad-policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseNomadPolicies(map[string]string{"drover": string(b)})
	if err != nil {
		t.Fatal(err)
	}
	n := &NomadCheck{JobNamespaces: []string{"default"}}
	for _, nd := range n.needs([]string{"default", "team-a"}) {
		if !g.allows(nd.namespace, nd.capability) {
			t.Errorf("example policy lacks %s in %q", nd.capability, nd.namespace)
		}
	}
	if g.allows("team-a", "submit-job") {
		t.Error("example policy grants submit-job beyond the namespaces it names")
	}
}

func TestParseNomadPolicies_RefusesBadHCL(t *testing.T) {
	if _, err := parseNomadPolicies(map[string]string{"bad": `namespace "x" {`}); err == nil {
		t.Error("no error for unclosed block")
	}
	if _, err := parseNomadPolicies(map[string]string{"bad": `namespace "x" { capabilities = "submit-job" }`}); err == nil {
		t.Error("no error for capabilities given as a string")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anything", true},
		{"prod-*", "prod-eu", true},
		{"prod-*", "dev-eu", false},
		{"*-eu", "prod-eu", true},
		{"*-eu", "prod-us", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
	} {
		if got := globMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

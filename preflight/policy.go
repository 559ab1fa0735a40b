package preflight

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// nomadGrants is what a set of Nomad ACL policies grants in namespaces:
// capabilities by namespace block name, merged across policies the way
// Nomad merges them (a union per name; deny anywhere in a name's blocks
// wins).
type nomadGrants map[string]map[string]bool

// parseNomadPolicies reads the namespace rules of Nomad ACL policies.
// Other blocks (node, agent, operator…) do not bear on what drover needs.
func parseNomadPolicies(rules map[string]string) (nomadGrants, error) {
	g := nomadGrants{}
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		f, diags := hclsyntax.ParseConfig([]byte(rules[name]), name, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("nomad policy %q: %s", name, diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type != "namespace" || len(b.Labels) != 1 {
				continue
			}
			caps, err := namespaceCapabilities(b)
			if err != nil {
				return nil, fmt.Errorf("nomad policy %q, namespace %q: %w", name, b.Labels[0], err)
			}
			ns := b.Labels[0]
			if g[ns] == nil {
				g[ns] = map[string]bool{}
			}
			for _, c := range caps {
				g[ns][c] = true
			}
		}
	}
	return g, nil
}

// namespaceCapabilities is a namespace block's capabilities, its policy
// shorthand expanded as Nomad expands it.
func namespaceCapabilities(b *hclsyntax.Block) ([]string, error) {
	var caps []string
	for name, attr := range b.Body.Attributes {
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s: %s", name, diags.Error())
		}
		switch name {
		case "policy":
			if !v.Type().Equals(cty.String) {
				return nil, fmt.Errorf("policy is not a string")
			}
			caps = append(caps, expandPolicy(v.AsString())...)
		case "capabilities":
			if !v.CanIterateElements() {
				return nil, fmt.Errorf("capabilities is not a list")
			}
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if !e.Type().Equals(cty.String) {
					return nil, fmt.Errorf("a capability is not a string")
				}
				caps = append(caps, e.AsString())
			}
		}
	}
	return caps, nil
}

// expandPolicy is the capabilities a namespace policy shorthand stands for
// (Nomad's acl.expandNamespacePolicy), as far as drover's needs go.
func expandPolicy(policy string) []string {
	read := []string{"list-jobs", "parse-job", "read-job"}
	switch policy {
	case "deny":
		return []string{"deny"}
	case "read":
		return read
	case "write":
		return append(read, "submit-job")
	case "scale":
		return []string{"read-job"}
	}
	return nil
}

// allows reports whether the grants give capability in namespace. The
// namespace's own block applies if there is one, else the glob block
// that matches it most closely (Nomad's rule: fewest characters left to
// the wildcards).
func (g nomadGrants) allows(namespace, capability string) bool {
	caps := g.lookup(namespace)
	return caps != nil && !caps["deny"] && caps[capability]
}

func (g nomadGrants) lookup(namespace string) map[string]bool {
	if caps, ok := g[namespace]; ok {
		return caps
	}
	var best map[string]bool
	bestDiff := -1
	for pattern, caps := range g {
		if !strings.Contains(pattern, "*") || !globMatch(pattern, namespace) {
			continue
		}
		diff := len(namespace) - len(strings.ReplaceAll(pattern, "*", ""))
		if bestDiff < 0 || diff < bestDiff {
			best, bestDiff = caps, diff
		}
	}
	return best
}

// globMatch matches name against pattern, where * is any run of
// characters.
func globMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(name, p)
		}
		j := strings.Index(name, p)
		if j < 0 {
			return false
		}
		name = name[j+len(p):]
	}
	return name == ""
}

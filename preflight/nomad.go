package preflight

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// NomadAPI is what the Nomad checks call; *nomad.Client has it.
type NomadAPI interface {
	Address() string
	Leader(ctx context.Context) error
	Version(ctx context.Context) (string, error)
	TokenSelf(ctx context.Context) (*api.ACLToken, error)
	PolicyRules(ctx context.Context) (map[string]string, error)
	Namespaces(ctx context.Context) ([]string, error)
	Probe(ctx context.Context, namespace, capability string) error
}

// MinNomadVersion is the oldest Nomad drover is tested against: job lists
// with meta and the event stream's filters by job came before it.
const MinNomadVersion = "1.7.0"

// NomadCheck checks Nomad: reachable, its version, the token, and each
// capability drover needs in each namespace.
type NomadCheck struct {
	API NomadAPI
	// JobNamespaces are the namespaces the repository's jobs are
	// deployed to: drover plans, registers, reads and lists jobs there.
	JobNamespaces []string
	// ParseNamespace is where job files are parsed (NOMAD_NAMESPACE);
	// "" is "default".
	ParseNamespace string
}

// need is one capability drover needs in one namespace, and why.
type need struct {
	namespace, capability, why string
}

// needs lists what drover needs where, in a stable order: per namespace,
// the capabilities in the order a cycle uses them.
func (n *NomadCheck) needs(visible []string) []need {
	byNS := map[string]map[string]string{}
	add := func(ns, capability, why string) {
		if byNS[ns] == nil {
			byNS[ns] = map[string]string{}
		}
		if _, ok := byNS[ns][capability]; !ok {
			byNS[ns][capability] = why
		}
	}
	parseNS := n.ParseNamespace
	if parseNS == "" {
		parseNS = "default"
	}
	add(parseNS, "parse-job", "to parse the job files")
	for _, ns := range n.JobNamespaces {
		add(ns, "list-jobs", "to list the jobs drover owns")
		add(ns, "read-job", "to read jobs, their allocations and deployments")
		add(ns, "submit-job", "to plan, register and stop jobs")
	}
	for _, ns := range visible {
		add(ns, "read-job", "the event stream of every namespace needs it in each")
	}
	order := []string{"list-jobs", "read-job", "parse-job", "submit-job"}
	var out []need
	for _, ns := range slices.Sorted(maps.Keys(byNS)) {
		for _, c := range order {
			if why, ok := byNS[ns][c]; ok {
				out = append(out, need{ns, c, why})
			}
		}
	}
	return out
}

func (n *NomadCheck) run(ctx context.Context) []Check {
	addr := n.API.Address()
	if err := n.API.Leader(ctx); err != nil {
		c := Check{Name: "nomad: reachable at " + addr, Detail: err.Error(),
			Fix: "set NOMAD_ADDR to Nomad's HTTP address; with TLS also NOMAD_CACERT, NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY"}
		if f := tlsFix(err, "NOMAD"); f != "" {
			c.Fix, c.Fatal = f, true
		}
		return []Check{c}
	}
	out := []Check{{Name: "nomad: reachable at " + addr, OK: true}}
	out = append(out, n.version(ctx))

	tok, err := n.API.TokenSelf(ctx)
	switch {
	case isACLDisabled(err):
		return append(out, Check{Name: "nomad: token", OK: true, Detail: "ACLs are off: every call is allowed"})
	case err == nil && tok.Type == "management":
		return append(out, Check{Name: "nomad: token", OK: true, Detail: "management token: every capability (a token from examples/acl/nomad-policy.hcl is enough)"})
	case err != nil && !isStatus(err, http.StatusForbidden):
		return append(out, Check{Name: "nomad: token", Detail: err.Error()})
	}
	// A workload identity is no ACL token, so token/self refuses it;
	// its policies are still listed.
	rules, rerr := n.API.PolicyRules(ctx)
	if err != nil && rerr != nil {
		return append(out, Check{Name: "nomad: token", Detail: "Nomad refused the token: unknown, expired or revoked",
			Fix: "set NOMAD_TOKEN (or --nomad-token-file) to a token made from examples/acl/nomad-policy.hcl"})
	}
	tokenCheck := Check{Name: "nomad: token", OK: true}
	if tok != nil {
		tokenCheck.Detail = fmt.Sprintf("%q, policies %s", tok.Name, strings.Join(tok.Policies, ", "))
	} else {
		tokenCheck.Detail = "workload identity"
	}
	out = append(out, tokenCheck)

	var grants nomadGrants
	if rerr == nil {
		if grants, rerr = parseNomadPolicies(rules); rerr != nil {
			out = append(out, Check{Name: "nomad: policies", OK: true, Detail: fmt.Sprintf("%v; probing instead", rerr)})
		}
	}
	visible, err := n.API.Namespaces(ctx)
	if err != nil {
		visible = nil // the jobs' namespaces are still checked
	}
	for _, nd := range n.needs(visible) {
		out = append(out, n.capability(ctx, nd, grants, rerr == nil))
	}
	return out
}

// capability checks one need, from the policies when they could be read,
// else with a probe.
func (n *NomadCheck) capability(ctx context.Context, nd need, grants nomadGrants, fromPolicies bool) Check {
	c := Check{
		Name:       fmt.Sprintf("nomad: %s in namespace %q", nd.capability, nd.namespace),
		Capability: nd.capability, Namespace: nd.namespace,
		Fix: fmt.Sprintf("add to the token's policy: namespace %q { capabilities = [%q] }", nd.namespace, nd.capability),
	}
	if fromPolicies {
		c.OK = grants.allows(nd.namespace, nd.capability)
		if !c.OK {
			c.Detail = "no policy of the token grants it; drover needs it " + nd.why
		}
		return c
	}
	err := n.API.Probe(ctx, nd.namespace, nd.capability)
	switch {
	case err == nil:
		c.OK, c.Detail = true, "probed"
	case isStatus(err, http.StatusForbidden):
		c.Detail = "Nomad refused it (probed: the token may not read its policies); drover needs it " + nd.why
	default:
		c.Detail = fmt.Sprintf("probe failed: %v", err)
		c.Fix = ""
	}
	return c
}

func (n *NomadCheck) version(ctx context.Context) Check {
	c := Check{Name: "nomad: version " + MinNomadVersion + " or later", OK: true}
	v, err := n.API.Version(ctx)
	switch {
	case isStatus(err, http.StatusForbidden):
		c.Detail = "not checked: reading it needs agent:read, which drover does not"
	case err != nil:
		c.Detail = fmt.Sprintf("not checked: %v", err)
	case versionLess(v, MinNomadVersion):
		c.OK, c.Detail = false, "Nomad is "+v
		c.Fix = "upgrade Nomad to " + MinNomadVersion + " or later"
	default:
		c.Detail = v
	}
	return c
}

// versionLess compares dotted versions by their numbers, ignoring a
// pre-release or build suffix.
func versionLess(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	for i := range 3 {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func versionParts(v string) [3]int {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+ "); i >= 0 {
		v = v[:i]
	}
	for i, p := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}

// tlsFix is the fix for a TLS failure talking to Nomad or Consul (prefix
// NOMAD or CONSUL), "" when err is none.
func tlsFix(err error, prefix string) string {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	msg := err.Error()
	switch {
	case errors.As(err, &unknownCA) || strings.Contains(msg, "certificate signed by unknown authority"):
		return "the server's certificate is not signed by the CA in " + prefix + "_CACERT: set it to the CA that signed the server's certificate"
	case errors.As(err, &hostname) || strings.Contains(msg, "certificate is valid for"):
		return "the server's certificate does not name the address dialled: use an address it names, or set " + prefix + "_TLS_SERVER_NAME"
	case errors.As(err, &certInvalid) || strings.Contains(msg, "certificate has expired"):
		return "the server's certificate is not valid now: renew it"
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate"):
		return "the server requires a client certificate: set " + prefix + "_CLIENT_CERT and " + prefix + "_CLIENT_KEY to one its CA signed"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "the server speaks plain HTTP: use an http:// address"
	case strings.Contains(msg, "malformed HTTP response") || strings.Contains(msg, "client sent an HTTP request to an HTTPS server"):
		return "the server speaks HTTPS: use an https:// address (for Consul, CONSUL_HTTP_SSL=true)"
	}
	return ""
}

// isStatus reports whether err is an HTTP answer with code, such as
// Nomad's api.UnexpectedResponseError.
func isStatus(err error, code int) bool {
	var se interface{ StatusCode() int }
	return errors.As(err, &se) && se.StatusCode() == code
}

// isACLDisabled tells Nomad's answer to an ACL call on a cluster without
// ACLs.
func isACLDisabled(err error) bool {
	return err != nil && strings.Contains(err.Error(), "ACL support disabled")
}

package preflight

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// fakeNomad answers the checks' calls from fields; a nil error is yes.
type fakeNomad struct {
	token    *api.ACLToken
	tokenErr error
	rules    map[string]string
	rulesErr error
	denied   map[string]bool // "namespace/capability" refused to a probe
	probed   []string
}

func (f *fakeNomad) Address() string                         { return "http://nomad" }
func (f *fakeNomad) Leader(context.Context) error            { return nil }
func (f *fakeNomad) Version(context.Context) (string, error) { return "1.11.3", nil }
func (f *fakeNomad) TokenSelf(context.Context) (*api.ACLToken, error) {
	return f.token, f.tokenErr
}
func (f *fakeNomad) PolicyRules(context.Context) (map[string]string, error) {
	return f.rules, f.rulesErr
}
func (f *fakeNomad) Namespaces(context.Context) ([]string, error) {
	return []string{"default", "prod"}, nil
}
func (f *fakeNomad) Probe(_ context.Context, ns, capability string) error {
	f.probed = append(f.probed, ns+"/"+capability)
	if f.denied[ns+"/"+capability] {
		return forbidden()
	}
	return nil
}

// statusError is an HTTP answer, as the checks see Nomad's.
type statusError int

func (e statusError) Error() string   { return "Unexpected response code: " + http.StatusText(int(e)) }
func (e statusError) StatusCode() int { return int(e) }

func forbidden() error { return statusError(http.StatusForbidden) }

func failedNames(checks []Check) []string {
	var out []string
	for _, c := range checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

func TestNomadCheck_NamesEachMissingCapabilityWithItsFix(t *testing.T) {
	f := &fakeNomad{
		token: &api.ACLToken{Name: "drover", Type: "client", Policies: []string{"drover"}},
		rules: map[string]string{"drover": `namespace "*" { capabilities = ["list-jobs", "read-job"] }
namespace "prod" { capabilities = ["list-jobs", "read-job", "parse-job"] }`},
	}
	n := &NomadCheck{API: f, JobNamespaces: []string{"prod"}, ParseNamespace: "prod"}
	checks := n.run(t.Context())
	got := failedNames(checks)
	if len(got) != 1 || got[0] != `nomad: submit-job in namespace "prod"` {
		t.Fatalf("failed checks = %q, want only submit-job in prod", got)
	}
	for _, c := range checks {
		if !c.OK {
			if want := `namespace "prod" { capabilities = ["submit-job"] }`; !strings.Contains(c.Fix, want) {
				t.Errorf("fix = %q, want it to contain %q", c.Fix, want)
			}
			if c.Capability != "submit-job" || c.Namespace != "prod" {
				t.Errorf("subject = %s in %s", c.Capability, c.Namespace)
			}
		}
	}
	if len(f.probed) != 0 {
		t.Errorf("probed %v though the policies were readable", f.probed)
	}
}

func TestNomadCheck_ProbesWhenPoliciesAreUnreadable(t *testing.T) {
	f := &fakeNomad{
		token:    &api.ACLToken{Name: "drover", Type: "client"},
		rulesErr: forbidden(),
		denied:   map[string]bool{"prod/read-job": true},
	}
	n := &NomadCheck{API: f, JobNamespaces: []string{"default"}}
	got := failedNames(n.run(t.Context()))
	if len(got) != 1 || got[0] != `nomad: read-job in namespace "prod"` {
		t.Fatalf("failed checks = %q, want read-job in prod (the event stream's)", got)
	}
	if len(f.probed) == 0 {
		t.Error("nothing probed")
	}
}

func TestNomadCheck_Token(t *testing.T) {
	for name, tc := range map[string]struct {
		f        *fakeNomad
		wantFail bool
	}{
		"management":        {&fakeNomad{token: &api.ACLToken{Type: "management"}}, false},
		"acl disabled":      {&fakeNomad{tokenErr: errors.New("Unexpected response code: 400 (ACL support disabled)")}, false},
		"revoked":           {&fakeNomad{tokenErr: forbidden(), rulesErr: forbidden()}, true},
		"workload identity": {&fakeNomad{tokenErr: forbidden(), rules: map[string]string{"p": `namespace "*" { policy = "write" }`}}, false},
	} {
		t.Run(name, func(t *testing.T) {
			n := &NomadCheck{API: tc.f, JobNamespaces: []string{"default"}}
			got := failedNames(n.run(t.Context()))
			if (len(got) > 0) != tc.wantFail {
				t.Errorf("failed checks = %q, want failure %v", got, tc.wantFail)
			}
			if tc.wantFail && got[0] != "nomad: token" {
				t.Errorf("failed %q, want the token check", got[0])
			}
		})
	}
}

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1.6.9", "1.7.0", true},
		{"1.7.0", "1.7.0", false},
		{"1.11.3", "1.7.0", false},
		{"1.7.0-beta.1", "1.7.0", false},
		{"v2.0.0", "1.7.0", false},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestHTTPCheck(t *testing.T) {
	for _, tc := range []struct {
		h    HTTPCheck
		fail bool
	}{
		{HTTPCheck{Listen: "127.0.0.1:8680"}, false},
		{HTTPCheck{Listen: "localhost:8680"}, false},
		{HTTPCheck{Listen: "0.0.0.0:8680"}, true},
		{HTTPCheck{Listen: ":8680"}, true},
		{HTTPCheck{Listen: ":8680", APIToken: true}, false},
	} {
		got := failedNames(tc.h.run())
		if (len(got) > 0) != tc.fail {
			t.Errorf("%+v: failed %q, want failure %v", tc.h, got, tc.fail)
		}
	}
}

func TestTLSFix(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{x509.UnknownAuthorityError{}, "NOMAD_CACERT"},
		{errors.New(`Get "https://127.0.0.1:4646/v1/status/leader": tls: failed to verify certificate: x509: certificate signed by unknown authority`), "NOMAD_CACERT"},
		{errors.New("remote error: tls: certificate required"), "NOMAD_CLIENT_CERT"},
		{errors.New("connection refused"), ""},
	} {
		if got := tlsFix(tc.err, "NOMAD"); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("tlsFix(%v) = %q, want it to name %q", tc.err, got, tc.want)
		}
	}
}

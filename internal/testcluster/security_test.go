package testcluster

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
)

// TestCluster_ACLAndTLS starts a locked-down cluster and checks that it is
// locked: without a token Nomad and Consul refuse, without the client
// certificate they do not talk, and tokens made from the example policies
// get what drover needs and no more.
func TestCluster_ACLAndTLS(t *testing.T) {
	c := StartWithT(t, Options{ACL: true, TLS: true})
	ctx := t.Context()
	if !strings.HasPrefix(c.NomadAddr(), "https://") {
		t.Errorf("NomadAddr() = %s, want https", c.NomadAddr())
	}

	anon, err := nomadapi.NewClient(c.nomadAPIConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := anon.Jobs().List(nil); !isStatus(err, http.StatusForbidden) {
		t.Errorf("anonymous job list: err = %v, want 403", err)
	}
	noCert := c.nomadAPIConfig(c.sec.nomadToken)
	noCert.TLSConfig = &nomadapi.TLSConfig{CACert: c.TLSFiles().CACert}
	if nc, err := nomadapi.NewClient(noCert); err == nil {
		if _, _, err := nc.Jobs().List(nil); err == nil {
			t.Error("Nomad answered a client without a certificate")
		}
	}

	nomadRules := readExample(t, "nomad-policy.hcl")
	_, secret, err := c.NomadToken(ctx, "drover", nomadRules)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nomadapi.NewClient(c.nomadAPIConfig(secret))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := nc.Jobs().List(nil); err != nil {
		t.Errorf("job list with the example policy: %v", err)
	}
	if _, _, err := nc.Nodes().List(nil); !isStatus(err, http.StatusForbidden) {
		t.Errorf("node list with the example policy: err = %v, want 403 (least privilege)", err)
	}

	consulRules := readExample(t, "consul-policy.hcl")
	_, csecret, err := c.ConsulToken(ctx, "drover", consulRules)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := consulapi.NewClient(c.consulAPIConfig(csecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.KV().Put(&consulapi.KVPair{Key: "drover/x/probe", Value: []byte("1")}, nil); err != nil {
		t.Errorf("KV write under drover/ with the example policy: %v", err)
	}
	if _, err := cc.KV().Put(&consulapi.KVPair{Key: "other/probe", Value: []byte("1")}, nil); err == nil {
		t.Error("KV write outside drover/ allowed by the example policy")
	}
	canon, err := consulapi.NewClient(c.consulAPIConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := canon.KV().Get("drover/x/probe", nil); err == nil {
		t.Error("anonymous Consul KV read allowed")
	}
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "acl", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func isStatus(err error, code int) bool {
	var ue nomadapi.UnexpectedResponseError
	return errors.As(err, &ue) && ue.StatusCode() == code
}

package testcluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
)

// newSecret is a random token secret in the UUID form both Nomad and
// Consul expect.
func newSecret() string { return uuid() }

func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// nomadAPIConfig is an API client config for this cluster's Nomad with
// token, carrying the client certificate when TLS is on. The address is
// explicit so NOMAD_ADDR in the environment can never redirect a test.
func (c *Cluster) nomadAPIConfig(token string) *nomadapi.Config {
	cfg := &nomadapi.Config{Address: c.NomadAddr(), SecretID: token}
	if f := c.sec.tls; f != nil {
		cfg.TLSConfig = &nomadapi.TLSConfig{CACert: f.CACert, ClientCert: f.ClientCert, ClientKey: f.ClientKey}
	}
	return cfg
}

// consulAPIConfig is nomadAPIConfig for Consul.
func (c *Cluster) consulAPIConfig(token string) *consulapi.Config { return c.consul.apiConfig(token) }

// bootstrapNomadACL bootstraps Nomad's ACL system with the cluster's
// management token, once Nomad has a leader. Without Options.ACL it does
// nothing.
func (c *Cluster) bootstrapNomadACL(ctx context.Context) error {
	if c.sec.nomadToken == "" || c.bootstrapped {
		return nil
	}
	anon, err := nomadapi.NewClient(c.nomadAPIConfig(""))
	if err != nil {
		return fmt.Errorf("nomad client: %w", err)
	}
	_, _, err = anon.ACLTokens().BootstrapOpts(c.sec.nomadToken, (&nomadapi.WriteOptions{}).WithContext(ctx))
	// A bootstrap whose answer was lost has still happened: the token
	// working is what counts.
	if err != nil && !strings.Contains(err.Error(), "bootstrap already done") {
		return fmt.Errorf("bootstrap nomad acl: %w", err)
	}
	c.bootstrapped = true
	return nil
}

// TLSFiles are the cluster's certificates, nil without Options.TLS.
func (c *Cluster) TLSFiles() *TLSFiles { return c.sec.tls }

// NomadToken makes a Nomad ACL policy named name from rules and a client
// token holding it, and returns the token's accessor and secret IDs.
func (c *Cluster) NomadToken(ctx context.Context, name, rules string) (accessor, secret string, err error) {
	w := (&nomadapi.WriteOptions{}).WithContext(ctx)
	if _, err := c.nomadClient.ACLPolicies().Upsert(&nomadapi.ACLPolicy{Name: name, Rules: rules}, w); err != nil {
		return "", "", fmt.Errorf("nomad policy %s: %w", name, err)
	}
	tok, _, err := c.nomadClient.ACLTokens().Create(&nomadapi.ACLToken{Name: name, Type: "client", Policies: []string{name}}, w)
	if err != nil {
		return "", "", fmt.Errorf("nomad token %s: %w", name, err)
	}
	return tok.AccessorID, tok.SecretID, nil
}

// ConsulToken makes a Consul ACL policy named name from rules and a token
// holding it, and returns the token's accessor and secret IDs.
func (c *Cluster) ConsulToken(ctx context.Context, name, rules string) (accessor, secret string, err error) {
	w := (&consulapi.WriteOptions{}).WithContext(ctx)
	pol, _, err := c.consul.client.ACL().PolicyCreate(&consulapi.ACLPolicy{Name: name, Rules: rules}, w)
	if err != nil {
		return "", "", fmt.Errorf("consul policy %s: %w", name, err)
	}
	tok, _, err := c.consul.client.ACL().TokenCreate(&consulapi.ACLToken{Description: name, Policies: []*consulapi.ACLTokenPolicyLink{{ID: pol.ID}}}, w)
	if err != nil {
		return "", "", fmt.Errorf("consul token %s: %w", name, err)
	}
	return tok.AccessorID, tok.SecretID, nil
}

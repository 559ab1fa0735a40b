package preflight

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/drover-dev/drover/consul"
)

// ConsulAPI is what the Consul checks call; *consul.Client has it.
type ConsulAPI interface {
	Leader(ctx context.Context) error
	TokenSelf(ctx context.Context) error
	CAS(ctx context.Context, key string, value []byte, index uint64) (bool, uint64, error)
	DeleteCAS(ctx context.Context, key string, index uint64) (bool, error)
	SessionProbe(ctx context.Context, name string) error
	HiddenByACL(ctx context.Context) (services, nodes bool, err error)
}

// ConsulCheck checks Consul: reachable, the token, KV write and
// check-and-set under the state prefix, sessions for the leader election,
// and reading the services and nodes rollouts are judged by.
type ConsulCheck struct {
	API ConsulAPI
	// Addr is where Consul is, for the messages.
	Addr string
	// Prefix is the state prefix (--state-prefix, instance filled in).
	Prefix string
	// HA is whether the leader election runs (--ha): only then are
	// sessions needed.
	HA bool
}

func (c *ConsulCheck) run(ctx context.Context) []Check {
	reach := Check{Name: "consul: reachable at " + c.Addr}
	if err := c.API.Leader(ctx); err != nil {
		reach.Detail = err.Error()
		reach.Fix = "set CONSUL_HTTP_ADDR to Consul's HTTP address; with TLS also CONSUL_HTTP_SSL=true, CONSUL_CACERT, CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY"
		if f := tlsFix(err, "CONSUL"); f != "" {
			reach.Fix, reach.Fatal = f, true
		}
		return []Check{reach}
	}
	reach.OK = true
	out := []Check{reach}

	tok := Check{Name: "consul: token", OK: true}
	switch err := c.API.TokenSelf(ctx); {
	case errors.Is(err, consul.ErrACLDisabled):
		tok.Detail = "ACLs are off: every call is allowed"
	case consul.IsForbidden(err):
		tok.OK, tok.Detail = false, "Consul refused the token: unknown, expired or revoked"
		tok.Fix = "set CONSUL_HTTP_TOKEN (or --consul-token-file) to a token made from examples/acl/consul-policy.hcl"
		return append(out, tok)
	case err != nil:
		// Reading itself may be refused to a token that works (an old
		// Consul's legacy token): the checks below tell.
		tok.Detail = fmt.Sprintf("not read: %v", err)
	}
	out = append(out, tok)
	out = append(out, c.kv(ctx))
	if c.HA {
		s := Check{Name: "consul: session create and destroy (leader election)", OK: true}
		if err := c.API.SessionProbe(ctx, "drover-check"); err != nil {
			s.OK, s.Detail = false, err.Error()
			if consul.IsForbidden(err) {
				s.Fix = `add to the token's policy: session_prefix "" { policy = "write" }`
			}
		}
		out = append(out, s)
	}
	out = append(out, c.catalog(ctx)...)
	return out
}

// kv writes a probe key under the prefix with check-and-set, changes it
// with check-and-set, and deletes it: what the state ledger does.
func (c *ConsulCheck) kv(ctx context.Context) Check {
	key := c.Prefix + "check-" + rand.Text()[:12]
	ch := Check{Name: fmt.Sprintf("consul: KV write and check-and-set under %q", c.Prefix), OK: true}
	fail := func(err error) Check {
		ch.OK, ch.Detail = false, err.Error()
		if consul.IsForbidden(err) {
			ch.Fix = fmt.Sprintf("add to the token's policy: key_prefix %q { policy = \"write\" }", c.Prefix)
		}
		return ch
	}
	ok, index, err := c.API.CAS(ctx, key, []byte("drover check"), 0)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(fmt.Errorf("check-and-set of new key %s refused", key))
	}
	if ok, index, err = c.API.CAS(ctx, key, []byte("drover check again"), index); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("check-and-set of %s at its own index refused", key)
		}
		c.API.DeleteCAS(ctx, key, 0)
		return fail(err)
	}
	if ok, err := c.API.DeleteCAS(ctx, key, index); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("delete of probe key %s refused", key)
		}
		return fail(err)
	}
	return ch
}

func (c *ConsulCheck) catalog(ctx context.Context) []Check {
	svc := Check{Name: "consul: service read (rollout health checks)", OK: true}
	node := Check{Name: "consul: node read (rollout health checks)", OK: true}
	hiddenSvc, hiddenNodes, err := c.API.HiddenByACL(ctx)
	if err != nil {
		svc.OK, svc.Detail = false, err.Error()
		node.OK, node.Detail = false, err.Error()
		return []Check{svc, node}
	}
	if hiddenSvc {
		svc.OK, svc.Detail = false, "Consul hides services from the token: rollouts would wait for checks they cannot see"
		svc.Fix = `add to the token's policy: service_prefix "" { policy = "read" }`
	}
	if hiddenNodes {
		node.OK, node.Detail = false, "Consul hides nodes from the token: the checks of their services are hidden too"
		node.Fix = `add to the token's policy: node_prefix "" { policy = "read" }`
	}
	return []Check{svc, node}
}

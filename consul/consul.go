// Package consul adapts the Consul API client to the narrow interfaces
// drover's state ledger and health watcher declare, adding a context to
// every call.
package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/drover-dev/drover/failure"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/secretfile"
	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
)

// Client is the Consul API as drover uses it.
type Client struct {
	api *consulapi.Client
}

// DefaultTimeout is Options.Timeout's default: longer than the blocking
// queries drover makes (a one-minute wait, which Consul may stretch by a
// sixteenth), so the backstop never cuts a healthy one short.
const DefaultTimeout = 2 * time.Minute

// dialTimeout bounds connecting and the TLS handshake.
const dialTimeout = 10 * time.Second

// Options configure New. The zero value is ready to use.
type Options struct {
	// Timeout bounds one whole HTTP exchange, whatever the caller's
	// context says: a backstop for a call made without a deadline. It
	// must be longer than the longest blocking query's wait plus a
	// sixteenth. Zero means DefaultTimeout.
	Timeout time.Duration

	// TokenFile, when set, is where the token is read from instead of
	// CONSUL_HTTP_TOKEN, again whenever the file changes: a rotated
	// token is used from the next request on, without a restart.
	TokenFile string
}

// New returns a client configured the standard way: CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN, CONSUL_CACERT, CONSUL_NAMESPACE… Its transport gives
// up on a connection or TLS handshake after 10s and on any exchange after
// opts.Timeout. (A unix:// address gets the API client's own transport,
// without these bounds.)
func New(opts Options) (*Client, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	cfg := consulapi.DefaultConfig()
	cfg.Transport.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	cfg.Transport.TLSHandshakeTimeout = dialTimeout
	// Built here, not by NewClient, to set its timeout; the TLS settings
	// from the environment are applied to the transport the same way.
	hc, err := consulapi.NewHttpClient(cfg.Transport, cfg.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	hc.Timeout = opts.Timeout
	if opts.TokenFile != "" {
		token, err := secretfile.Open(opts.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("consul token: %w", err)
		}
		cfg.Token, cfg.TokenFile = "", ""
		hc.Transport = &secretfile.Transport{Next: hc.Transport, Header: "X-Consul-Token", Secret: token}
	}
	cfg.HttpClient = hc
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	return &Client{api: c}, nil
}

// Address is where New's client goes: CONSUL_HTTP_ADDR, else the API
// client's default, read the way New reads it (for messages).
func Address() string { return consulapi.DefaultConfig().Address }

// Wrap adapts an existing API client.
func Wrap(c *consulapi.Client) *Client { return &Client{api: c} }

// API is the API client underneath, for what the adapter does not cover
// (leader election).
func (c *Client) API() *consulapi.Client { return c.api }

// IsForbidden reports whether err is Consul refusing the request for want
// of an ACL permission.
func IsForbidden(err error) bool {
	var se consulapi.StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusForbidden
	}
	var sp *consulapi.StatusError
	return errors.As(err, &sp) && sp != nil && sp.Code == http.StatusForbidden
}

// checked marks Consul's 403 as a failure.Stall: the token lacks an ACL
// permission, which retrying will not grant. The KV calls' errors go
// through it.
func checked(err error) error {
	if !IsForbidden(err) {
		return err
	}
	return &failure.Stall{What: "permission denied by Consul", Fix: "check CONSUL_HTTP_TOKEN's ACL policy", Err: err}
}

var _ state.KV = (*Client)(nil)

// List returns the keys under prefix.
func (c *Client) List(ctx context.Context, prefix string) ([]state.Pair, error) {
	kvs, _, err := c.api.KV().List(prefix, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list consul keys under %s: %w", prefix, checked(err))
	}
	out := make([]state.Pair, 0, len(kvs))
	for _, p := range kvs {
		out = append(out, state.Pair{Key: p.Key, Value: p.Value, ModifyIndex: p.ModifyIndex})
	}
	return out, nil
}

// Get returns one key, or nil when it is absent.
func (c *Client) Get(ctx context.Context, key string) (*state.Pair, error) {
	p, _, err := c.api.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read consul key %s: %w", key, checked(err))
	}
	if p == nil {
		return nil, nil
	}
	return &state.Pair{Key: p.Key, Value: p.Value, ModifyIndex: p.ModifyIndex}, nil
}

// CAS writes key only if its ModifyIndex is index (0: only if it is
// absent). It goes through the transaction endpoint, whose answer carries
// the index the write got, where a plain ?cas= write answers only true or
// false.
func (c *Client) CAS(ctx context.Context, key string, value []byte, index uint64) (bool, uint64, error) {
	return c.cas(ctx, nil, key, value, index)
}

// Fenced returns a KV whose writes land only while session holds the lock
// on lockKey: each CAS is one transaction that first checks the lock's
// session, so Consul itself refuses the write of an agent that lost its
// leadership, however late the write arrives. Such a refusal is an error
// wrapping state.ErrFenced. Reads are the plain ones.
func (c *Client) Fenced(lockKey, session string) state.KV {
	return &fenced{Client: c, guard: &consulapi.KVTxnOp{Verb: consulapi.KVCheckSession, Key: lockKey, Session: session}}
}

type fenced struct {
	*Client
	guard *consulapi.KVTxnOp
}

func (f *fenced) CAS(ctx context.Context, key string, value []byte, index uint64) (bool, uint64, error) {
	return f.cas(ctx, f.guard, key, value, index)
}

// cas writes key in one transaction, after guard when there is one.
func (c *Client) cas(ctx context.Context, guard *consulapi.KVTxnOp, key string, value []byte, index uint64) (bool, uint64, error) {
	var ops consulapi.TxnOps
	if guard != nil {
		ops = append(ops, &consulapi.TxnOp{KV: guard})
	}
	ops = append(ops, &consulapi.TxnOp{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCAS, Key: key, Value: value, Index: index}})
	var resp consulapi.TxnResponse
	// Raw, not Txn(): Txn() turns a 403 or a 5xx into an error without its
	// status code, and IsForbidden must see it.
	_, err := c.api.Raw().Write("/v1/txn", ops, &resp, (&consulapi.WriteOptions{}).WithContext(ctx))
	var se consulapi.StatusError
	if errors.As(err, &se) && se.Code == http.StatusConflict {
		// The transaction was rolled back; its body says why.
		if derr := json.Unmarshal([]byte(se.Body), &resp); derr != nil {
			return false, 0, fmt.Errorf("write consul key %s: transaction refused: %s", key, se.Body)
		}
		return false, 0, rolledBack(key, guard, resp.Errors)
	}
	if err != nil {
		return false, 0, fmt.Errorf("write consul key %s: %w", key, checked(err))
	}
	// The check-session op has a result of its own; the write's is last.
	if len(resp.Results) != len(ops) || resp.Results[len(ops)-1].KV == nil {
		return false, 0, fmt.Errorf("write consul key %s: transaction answered %d results, want %d", key, len(resp.Results), len(ops))
	}
	return true, resp.Results[len(ops)-1].KV.ModifyIndex, nil
}

// rolledBack tells a refused compare-and-set (the index moved: nil) from a
// refused permission and from a failed guard. Consul reports them all the
// same way, an error per operation with status 409: a permission is told
// by its text, which is all there is to go on, and the guard by the index
// of the operation that failed, which comes first.
func rolledBack(key string, guard *consulapi.KVTxnOp, errs consulapi.TxnErrors) error {
	for _, e := range errs {
		if e != nil && strings.Contains(strings.ToLower(e.What), "permission denied") {
			return fmt.Errorf("write consul key %s: %w", key, checked(consulapi.StatusError{Code: http.StatusForbidden, Body: e.What}))
		}
	}
	for _, e := range errs {
		if e != nil && guard != nil && e.OpIndex == 0 {
			return fmt.Errorf("write consul key %s: lock %s not held by session %s (%s): %w", key, guard.Key, guard.Session, e.What, state.ErrFenced)
		}
	}
	return nil
}

// Checks returns the health checks of the services named. With a
// non-zero index it blocks until they change past it or wait passes, and
// returns the index to wait on next. One query serves every rollout being
// watched: Consul filters the checks on the server, so an answer costs the
// watched services' checks, not the datacenter's, and a query per service
// would cost a connection each (http_max_conns_per_client, 200). The
// filter names each service (bexpr has no "field in list"), about 30
// bytes a service: a thousand fit well in Consul's 1 MB header limit.
func (c *Client) Checks(ctx context.Context, services []string, index uint64, wait time.Duration) ([]*consulapi.HealthCheck, uint64, error) {
	q := &consulapi.QueryOptions{WaitIndex: index, WaitTime: wait, Filter: serviceFilter(services)}
	checks, meta, err := c.api.Health().State(consulapi.HealthAny, q.WithContext(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("read checks of %d services: %w", len(services), err)
	}
	return checks, meta.LastIndex, nil
}

// serviceFilter is a bexpr matching the checks of the services named.
func serviceFilter(services []string) string {
	var b strings.Builder
	for i, s := range services {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("ServiceName == ")
		b.WriteString(strconv.Quote(s))
	}
	return b.String()
}

// CheckOutputs returns the live output of every check registered with the
// agent drover talks to, by check ID.
func (c *Client) CheckOutputs(ctx context.Context) (map[string]string, error) {
	checks, err := c.api.Agent().ChecksWithFilterOpts("", (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(checks))
	for id, ch := range checks {
		out[id] = ch.Output
	}
	return out, nil
}

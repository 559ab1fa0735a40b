// Package consul adapts the Consul API client to the narrow interfaces
// drover's state ledger and health watcher declare, adding a context to
// every call.
package consul

import (
	"context"
	"fmt"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Client is the Consul API as drover uses it.
type Client struct {
	api *consulapi.Client
}

// New returns a client configured the standard way: CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN, CONSUL_CACERT, CONSUL_NAMESPACE…
func New() (*Client, error) {
	c, err := consulapi.NewClient(consulapi.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	return &Client{api: c}, nil
}

// Wrap adapts an existing API client.
func Wrap(c *consulapi.Client) *Client { return &Client{api: c} }

// List returns the keys under prefix with their values.
func (c *Client) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	pairs, _, err := c.api.KV().List(prefix, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(pairs))
	for _, p := range pairs {
		out[p.Key] = p.Value
	}
	return out, nil
}

// Put writes one key.
func (c *Client) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.api.KV().Put(&consulapi.KVPair{Key: key, Value: value}, (&consulapi.WriteOptions{}).WithContext(ctx))
	return err
}

// Checks returns every health check of the datacenter. With a non-zero
// index it blocks until they change past it or wait passes, and returns the
// index to wait on next. One query serves every rollout being watched,
// where a query per service would cost a connection each.
func (c *Client) Checks(ctx context.Context, index uint64, wait time.Duration) ([]*consulapi.HealthCheck, uint64, error) {
	checks, meta, err := c.api.Health().State(consulapi.HealthAny, (&consulapi.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx))
	if err != nil {
		return nil, 0, err
	}
	return checks, meta.LastIndex, nil
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

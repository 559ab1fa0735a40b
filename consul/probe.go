package consul

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
)

// ErrACLDisabled is TokenSelf's answer when Consul runs without ACLs: any
// token, or none, is good.
var ErrACLDisabled = errors.New("consul ACLs are disabled")

// Leader checks that Consul answers and has a leader.
func (c *Client) Leader(ctx context.Context) error {
	leader, err := c.api.Status().LeaderWithQueryOptions((&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("consul: %w", err)
	}
	if leader == "" {
		return errors.New("consul has no leader")
	}
	return nil
}

// TokenSelf checks that Consul knows the token drover calls it with.
func (c *Client) TokenSelf(ctx context.Context) error {
	var tok consulapi.ACLToken
	_, err := c.api.Raw().Query("/v1/acl/token/self", &tok, (&consulapi.QueryOptions{}).WithContext(ctx))
	var se consulapi.StatusError
	if errors.As(err, &se) && se.Code == http.StatusUnauthorized && strings.Contains(se.Body, "ACL support disabled") {
		return ErrACLDisabled
	}
	if err != nil {
		return fmt.Errorf("read own consul token: %w", err)
	}
	return nil
}

// DeleteCAS deletes key only if its ModifyIndex is index.
func (c *Client) DeleteCAS(ctx context.Context, key string, index uint64) (bool, error) {
	ok, _, err := c.api.KV().DeleteCAS(&consulapi.KVPair{Key: key, ModifyIndex: index}, (&consulapi.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("delete consul key %s: %w", key, err)
	}
	return ok, nil
}

// SessionProbe creates a session on the agent's node, as the leader
// election does, and destroys it.
func (c *Client) SessionProbe(ctx context.Context, name string) error {
	w := (&consulapi.WriteOptions{}).WithContext(ctx)
	id, _, err := c.api.Session().Create(&consulapi.SessionEntry{Name: name, TTL: "10s", Behavior: consulapi.SessionBehaviorDelete}, w)
	if err != nil {
		return fmt.Errorf("create consul session: %w", err)
	}
	if _, err := c.api.Session().Destroy(id, w); err != nil {
		return fmt.Errorf("destroy consul session %s: %w", id, err)
	}
	return nil
}

// HiddenByACL reports whether Consul left services, and nodes, out of its
// catalog's answer for want of read permission: Consul hides what a token
// may not read rather than refusing the query, so this is how a missing
// service or node read shows.
func (c *Client) HiddenByACL(ctx context.Context) (services, nodes bool, err error) {
	q := (&consulapi.QueryOptions{}).WithContext(ctx)
	_, sm, err := c.api.Catalog().Services(q)
	if err != nil {
		return false, false, fmt.Errorf("list consul services: %w", err)
	}
	_, nm, err := c.api.Catalog().Nodes(q)
	if err != nil {
		return false, false, fmt.Errorf("list consul nodes: %w", err)
	}
	return sm.ResultsFilteredByACLs, nm.ResultsFilteredByACLs, nil
}

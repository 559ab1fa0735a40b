package consul

import (
	"context"
	"fmt"
	"time"

	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
)

// GetWait reads key with a blocking query: it answers once the key's
// index is past index (at once when index is 0) or when wait passes, with
// the index to wait on next. An absent key is nil. The caller's context
// bounds it; Consul may stretch wait by a sixteenth, which the client's
// own timeout allows for.
func (c *Client) GetWait(ctx context.Context, key string, index uint64, wait time.Duration) (*state.Pair, uint64, error) {
	p, meta, err := c.api.KV().Get(key, (&consulapi.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("watch consul key %s: %w", key, err)
	}
	if p == nil {
		return nil, meta.LastIndex, nil
	}
	return &state.Pair{Key: p.Key, Value: p.Value, ModifyIndex: p.ModifyIndex}, meta.LastIndex, nil
}

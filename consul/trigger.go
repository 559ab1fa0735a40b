package consul

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/drover-dev/drover/internal/watch"
	consulapi "github.com/hashicorp/consul/api"
)

// Triggers is a KV key that carries sync requests from the replicas of a
// drover instance that stand by to the one that leads: a standby writes it,
// the leader watches it with a blocking query.
type Triggers struct {
	c       *Client
	key     string
	timeout time.Duration
}

// trigger is the key's value.
type trigger struct {
	Reason string    `json:"reason"`
	Via    string    `json:"via"`
	At     time.Time `json:"at"`
}

// Triggers returns the sync requests kept at key; timeout bounds a write
// and, on top of its wait, a blocking read.
func (c *Client) Triggers(key string, timeout time.Duration) *Triggers {
	return &Triggers{c: c, key: key, timeout: timeout}
}

// Send asks the leader for a cycle.
func (t *Triggers) Send(ctx context.Context, reason, via string) error {
	b, err := json.Marshal(trigger{Reason: reason, Via: via, At: time.Now().UTC()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if _, err := t.c.api.KV().Put(&consulapi.KVPair{Key: t.key, Value: b}, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("write %s: %w", t.key, err)
	}
	return nil
}

// Next returns the newest request once the key's index is past index (at
// once when index is 0), or when wait passes, with the index to wait on
// next. A key never written is an empty request.
func (t *Triggers) Next(ctx context.Context, index uint64, wait time.Duration) (reason, via string, next uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, watch.Deadline(wait, t.timeout))
	defer cancel()
	pair, next, err := t.c.GetWait(ctx, t.key, index, wait)
	if err != nil || pair == nil {
		return "", "", next, err
	}
	var tr trigger
	if err := json.Unmarshal(pair.Value, &tr); err != nil {
		// Written by something else: still a request.
		return "unknown", "", next, nil
	}
	return tr.Reason, tr.Via, next, nil
}

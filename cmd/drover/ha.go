package main

import (
	"context"
	"os"

	"github.com/drover-dev/drover/agent"
	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/leader"
	"github.com/drover-dev/drover/state"
)

// leadership is the Consul election of an instance's replicas, as the
// agent uses it.
type leadership struct {
	elector *leader.Elector
	key     string
}

// leadership builds the election.
func (w *wiring) leadership(c *config, id string) (*leadership, error) {
	key := c.stateKeyPrefix() + "leader"
	e, err := leader.New(w.consul.API(), leader.Options{
		Key: key, TTL: c.leaderTTL, Logger: w.log, Emitter: w.events,
		Holder: leader.Holder{Instance: c.instance, ID: id, Advertise: c.advertiseURL(os.Getenv)},
	})
	if err != nil {
		return nil, err
	}
	return &leadership{elector: e, key: key}, nil
}

func (l *leadership) Campaign(ctx context.Context) (agent.Term, error) {
	t, err := l.elector.Campaign(ctx)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (l *leadership) Leader(ctx context.Context) (*agent.Holder, error) {
	return l.elector.Leader(ctx)
}

// fenced is the state store of a term: Consul refuses its writes once the
// term's session no longer holds the lock.
func (l *leadership) fenced(c *consul.Client, t agent.Term) state.KV {
	return c.Fenced(l.key, t.(*leader.Term).Session())
}

package testcluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
)

// pollInterval is how often start-up readiness is checked. This polls
// rather than using blocking queries: until the agent answers at all there
// is no index to block on, and start-up takes seconds, not minutes.
const pollInterval = 250 * time.Millisecond

// requestTimeout bounds one readiness request, so an agent that accepts
// connections but hangs is retried instead of stalling the wait.
const requestTimeout = 2 * time.Second

// waitReady calls ready until it returns nil, the agent exits, or ctx ends.
// Every failure carries the tail of the agent's log: "not ready" alone would
// send the reader to find the log file.
func waitReady(ctx context.Context, p *process, ready func(context.Context) error) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
		last := ready(reqCtx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.exited():
			err := p.exitErr()
			// The agent's log is the only place a bind failure shows up, so
			// its text is what tells a port race from a real fault.
			if strings.Contains(p.tail(), "address already in use") {
				return fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("%w (pid %d still running; last check: %v)%s", ctx.Err(), p.pid(), last, p.logQuote())
		case <-tick.C:
		}
	}
}

// consulHasLeader passes once Consul has elected a leader: before that,
// catalog and KV requests fail with "No cluster leader".
func consulHasLeader(ctx context.Context, cc *consulapi.Client) error {
	leader, err := cc.Status().LeaderWithQueryOptions((&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if leader == "" {
		return errors.New("no leader yet")
	}
	return nil
}

// nomadReady passes once Nomad has a leader and a client node that can run
// the tests' jobs: ready, raw_exec healthy, and Consul fingerprinted (the
// scheduler will not place a job with a Consul service on a node without it).
func (c *Cluster) nomadReady(ctx context.Context) error {
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	var leader string
	if _, err := c.nomadClient.Raw().Query("/v1/status/leader", &leader, q); err != nil {
		return err
	}
	if leader == "" {
		return errors.New("no leader yet")
	}
	if err := c.bootstrapNomadACL(ctx); err != nil {
		return err
	}
	nodes, _, err := c.nomadClient.Nodes().List(q)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return errors.New("no client node registered yet")
	}
	var why []string
	for _, n := range nodes {
		if err := nodeReady(ctx, c.nomadClient, n); err != nil {
			why = append(why, fmt.Sprintf("node %s: %v", n.Name, err))
			continue
		}
		return nil
	}
	return errors.New(strings.Join(why, "; "))
}

func nodeReady(ctx context.Context, nc *nomadapi.Client, n *nomadapi.NodeListStub) error {
	if n.Status != nomadapi.NodeStatusReady {
		return fmt.Errorf("status %q", n.Status)
	}
	d := n.Drivers["raw_exec"]
	switch {
	case d == nil || !d.Detected:
		return errors.New("raw_exec not detected")
	case !d.Healthy:
		return fmt.Errorf("raw_exec unhealthy: %s", d.HealthDescription)
	}
	node, _, err := nc.Nodes().Info(n.ID, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if node.Attributes["consul.version"] == "" {
		return errors.New("consul not fingerprinted yet")
	}
	return nil
}

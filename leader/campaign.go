package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/watch"
	consulapi "github.com/hashicorp/consul/api"
)

// Campaign waits until this agent holds the lock and returns its term,
// which lasts until it is lost, resigned, or ctx ends (then it resigns).
// Meanwhile it logs leader.standby each time another agent takes the
// lock. A Consul that cannot be reached or refuses the session is logged
// (leader.error) and tried again with backoff, never returned: Campaign
// returns an error only when ctx ends, and then leaves no session behind.
func (e *Elector) Campaign(ctx context.Context) (*Term, error) {
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		e.watch(watchCtx)
	}()
	defer func() {
		stopWatch()
		<-watched
	}()

	failures := 0
	for {
		t, created, err := e.attempt(ctx)
		if t != nil {
			return t, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A session that could be created is a Consul that answers:
		// the next failure starts the backoff over.
		if created {
			failures = 0
		}
		failures++
		wait := e.opts.Retry(failures)
		e.log.Warn().Str("event", "leader.error").Err(err).Str("retry_in", wait.Round(time.Millisecond).String()).
			Msg("cannot campaign for leadership")
		if !backoff.Sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}

// lockResult is what consul/api's Lock returned.
type lockResult struct {
	lost <-chan struct{}
	err  error
}

// attempt creates a session, starts renewing it and waits for the lock
// with it. created reports whether the session was created.
func (e *Elector) attempt(ctx context.Context) (t *Term, created bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	sent := time.Now()
	id, _, err := e.c.Session().Create(&consulapi.SessionEntry{
		Name:      "drover leader " + e.opts.Holder.ID,
		TTL:       e.opts.TTL.String(),
		Behavior:  consulapi.SessionBehaviorRelease,
		LockDelay: e.opts.LockDelay,
	}, writeOptions(cctx))
	cancel()
	if err != nil {
		return nil, false, fmt.Errorf("create session for %s: %w", e.opts.Key, err)
	}
	e.setOwn(id)

	// termCtx becomes the term's: the renewals run on it from now on.
	termCtx, end := context.WithCancel(ctx)
	r := &renewer{c: e.c, id: id, ttl: e.opts.TTL, at: sent, before: e.beforeRenew, log: e.log,
		refused: make(chan struct{}), done: make(chan struct{})}
	go r.run(termCtx)
	abandon := func() {
		end()
		<-r.done
		e.destroy(ctx, id)
	}

	holder := e.opts.Holder
	holder.Since = time.Now().UTC()
	value, err := json.Marshal(holder)
	if err != nil {
		abandon()
		return nil, true, fmt.Errorf("encode holder: %w", err)
	}
	lock, err := e.c.LockOpts(&consulapi.LockOptions{
		Key: e.opts.Key, Value: value, Session: id,
		LockWaitTime: queryWait, MonitorRetries: monitorRetries,
	})
	if err != nil {
		abandon()
		return nil, true, fmt.Errorf("lock %s: %w", e.opts.Key, err)
	}
	// Lock takes no context and checks stop only between its queries: on
	// cancel, this goroutine ends after one queryWait at most, on its own
	// (got has room for its answer). Destroying the session first makes
	// sure it cannot win the lock meanwhile, or holds it for nothing.
	stop := make(chan struct{})
	got := make(chan lockResult, 1)
	go func() {
		lost, err := lock.Lock(stop)
		got <- lockResult{lost, err}
	}()
	select {
	case res := <-got:
		if res.err == nil && res.lost == nil {
			res.err = errors.New("lock attempt stopped")
		}
		if res.err != nil {
			abandon()
			return nil, true, fmt.Errorf("acquire %s: %w", e.opts.Key, res.err)
		}
		return e.newTerm(ctx, termCtx, end, r, holder, res.lost), true, nil
	case <-r.refused:
		close(stop)
		abandon()
		return nil, true, fmt.Errorf("session for %s invalidated while waiting for the lock", e.opts.Key)
	case <-ctx.Done():
		close(stop)
		abandon()
		return nil, true, ctx.Err()
	}
}

// watch follows the lock key with blocking queries until ctx ends: it
// keeps what Leader answers current, and logs leader.standby when another
// agent takes the lock.
func (e *Elector) watch(ctx context.Context) {
	defer e.setSeen(seen{})
	var announced string // the session last logged as leader
	v := watch.NewView(watch.Options{
		Name: "leader", Wait: queryWait, Timeout: callTimeout, Backoff: e.opts.Retry, StartOverOnError: true,
		// Campaign's own calls fail too, and log it; a stale view must
		// not be answered meanwhile.
		Failed: func(error) { e.setSeen(seen{}) },
	})
	watch.Run(ctx, v, func(ctx context.Context, q watch.Query) (*consulapi.KVPair, uint64, error) {
		pair, meta, err := e.c.KV().Get(e.opts.Key, (&consulapi.QueryOptions{WaitIndex: q.Index, WaitTime: q.Wait}).WithContext(ctx))
		if err != nil {
			return nil, 0, err
		}
		return pair, meta.LastIndex, nil
	}, func(pair *consulapi.KVPair, _ watch.Query) {
		h, session, err := holderOf(pair)
		e.setSeen(seen{fresh: true, holder: h, err: err})
		if h != nil && session != announced && !e.isOwn(session) {
			announced = session
			e.log.Info().Str("event", "leader.standby").Str("leader", h.ID).Str("leader_advertise", h.Advertise).
				Msg("standing by: another agent is leader")
		}
	})
}

// destroy ends a session, even when ctx has ended: a session left behind
// would hold nothing, but would linger until its TTL.
func (e *Elector) destroy(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	if _, err := e.c.Session().Destroy(id, writeOptions(ctx)); err != nil {
		// Consul expires it after its TTL anyway.
		e.log.Debug().Err(err).Str("session", id).Msg("destroy leader session")
	}
}

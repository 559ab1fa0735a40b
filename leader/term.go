package leader

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/internal/backoff"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/rs/zerolog"
)

// Term is one leadership: from acquiring the lock until it is lost or
// resigned. Its methods are safe for concurrent use.
type Term struct {
	e       *Elector
	holder  Holder
	session string
	r       *renewer
	ctx     context.Context

	lost       chan struct{} // closed when the term ends, before any cleanup
	done       chan struct{} // closed when the term's goroutines have ended
	resign     chan struct{}
	resignOnce sync.Once
}

// newTerm starts watching over a lock just acquired with r's session.
// ctx is the campaign's, termCtx the term's (ended by end).
func (e *Elector) newTerm(ctx, termCtx context.Context, end context.CancelFunc, r *renewer, holder Holder, lockLost <-chan struct{}) *Term {
	t := &Term{e: e, holder: holder, session: r.id, r: r, ctx: termCtx,
		lost: make(chan struct{}), done: make(chan struct{}), resign: make(chan struct{})}
	// Since was written when the campaign began, perhaps long ago;
	// re-acquiring with the session we hold only updates the value.
	t.holder.Since = time.Now().UTC()
	if value, err := json.Marshal(t.holder); err == nil {
		cctx, cancel := context.WithTimeout(termCtx, callTimeout)
		if _, _, err := e.c.KV().Acquire(t.pair(value), writeOptions(cctx)); err != nil {
			e.log.Debug().Err(err).Msg("update the leader key's since")
		}
		cancel()
	}
	e.opts.Emitter.Emit(events.LeaderAcquired{ID: t.holder.ID, Advertise: t.holder.Advertise, Session: t.session},
		"became leader")
	go t.run(ctx, end, lockLost)
	return t
}

// Lost is closed when the term ends: the lock or the session was lost,
// the lease expired, or the term was resigned. Nothing may be written on
// the term's behalf afterwards.
func (t *Term) Lost() <-chan struct{} { return t.lost }

// Context is cancelled the moment the term ends; work done as leader
// runs on it.
func (t *Term) Context() context.Context { return t.ctx }

// Valid reports whether the leadership can still be trusted, without a
// network call: the term is not lost, and its session was last renewed
// (the renewal sent) less than a TTL ago, so Consul cannot have expired
// it. A process frozen past the TTL sees false the moment it resumes,
// before anything else. Check it right before each write Consul cannot
// fence (a Nomad register, deregister or rollback).
func (t *Term) Valid() bool {
	select {
	case <-t.lost:
		return false
	default:
	}
	return time.Since(t.r.last()) < t.r.ttl
}

// Session is the Consul session holding the lock, for fenced writes.
func (t *Term) Session() string { return t.session }

// Holder is this agent as the lock names it, with the time it became
// leader.
func (t *Term) Holder() Holder { return t.holder }

// Resign ends the term: it releases the lock (without a lock delay, so
// another agent takes over at once) and destroys the session, and returns
// when the term's goroutines have ended. Calling it again, or after the
// term was lost, only waits for that.
func (t *Term) Resign() {
	t.resignOnce.Do(func() { close(t.resign) })
	<-t.done
}

// run waits for the term to end, then ends it: Lost first, then the
// renewals, then the lock and the session, which are released even when
// the term was lost (a lease that expired may still be a lock in Consul).
func (t *Term) run(ctx context.Context, end context.CancelFunc, lockLost <-chan struct{}) {
	defer close(t.done)
	lease := time.NewTimer(t.r.ttl - time.Since(t.r.last()))
	defer lease.Stop()
	// LeaderLost is logged at info for "resigned" and "stopped", at warn
	// for any other reason.
	var reason string
	for reason == "" {
		select {
		case <-lockLost:
			// consul/api's monitor ends either way, without saying which.
			reason = "the lock key is no longer held by this agent's session, or Consul stopped answering"
		case <-t.r.refused:
			reason = "Consul refused to renew the session: it was invalidated"
		case <-lease.C:
			idle := time.Since(t.r.last())
			if idle < t.r.ttl {
				lease.Reset(t.r.ttl - idle)
				continue
			}
			reason = fmt.Sprintf("lease expired: the session was last renewed %s ago, TTL %s", idle.Round(time.Millisecond), t.r.ttl)
		case <-t.resign:
			reason = "resigned"
		case <-ctx.Done():
			reason = "stopped"
		}
	}
	close(t.lost)
	end()
	t.e.opts.Emitter.Emit(events.LeaderLost{ID: t.holder.ID, Reason: reason, Session: t.session},
		"no longer leader")
	<-t.r.done
	t.release(ctx)
}

// release gives the lock up, then destroys the session. Released first,
// the key takes no lock delay and the next leader is not kept waiting.
func (t *Term) release(ctx context.Context) {
	value, _ := json.Marshal(t.holder) // a Holder always encodes
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	if _, _, err := t.e.c.KV().Release(t.pair(value), writeOptions(cctx)); err != nil {
		// Destroying the session releases it too, with a lock delay.
		t.e.log.Debug().Err(err).Msg("release the leader lock")
	}
	t.e.destroy(ctx, t.session)
}

// pair is the lock key as consul/api's lock writes it: its flag marks the
// key as a lock, and another agent's Lock refuses a key without it.
func (t *Term) pair(value []byte) *consulapi.KVPair {
	return &consulapi.KVPair{Key: t.e.opts.Key, Value: value, Session: t.session, Flags: consulapi.LockFlagValue}
}

// renewer renews a session every third of its TTL, sooner after a failed
// renewal, and remembers when the last successful one was sent: the
// session lives at least a TTL past that, which is the lease Valid checks.
type renewer struct {
	c      *consulapi.Client
	id     string
	ttl    time.Duration
	before func(context.Context)
	log    zerolog.Logger

	mu sync.Mutex
	at time.Time // when the last successful renewal (or the create) was sent

	refused chan struct{} // closed when Consul no longer knows the session
	done    chan struct{}
}

func (r *renewer) last() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.at
}

func (r *renewer) run(ctx context.Context) {
	defer close(r.done)
	every, retry := r.ttl/3, r.ttl/10
	wait := every
	for backoff.Sleep(ctx, wait) {
		if r.before != nil {
			r.before(ctx)
		}
		sent := time.Now()
		// A renewal answered after the next one was due is no use.
		cctx, cancel := context.WithTimeout(ctx, every)
		entry, _, err := r.c.Session().Renew(r.id, writeOptions(cctx))
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// The lease, not this error, decides when it is too late.
			r.log.Debug().Err(err).Str("session", r.id).Msg("renew leader session")
			wait = retry
		case entry == nil:
			close(r.refused)
			return
		default:
			r.mu.Lock()
			r.at = sent
			r.mu.Unlock()
			wait = every
		}
	}
}

// Package leader elects one drover agent among the replicas of an
// instance, with a Consul session and consul/api's lock on one key, and
// keeps a lease on the outcome: a Term says, without a network call,
// whether its leadership can still be trusted, and the session it holds
// lets Consul itself refuse the state writes of a leader that lost it
// (see consul.Client.Fenced).
package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/internal/backoff"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/rs/zerolog"
)

const (
	// DefaultTTL is Options.TTL's default.
	DefaultTTL = 15 * time.Second
	// MinTTL and MaxTTL bound the session TTLs Consul accepts.
	MinTTL = 10 * time.Second
	MaxTTL = 24 * time.Hour
	// DefaultLockDelay is Options.LockDelay's default.
	DefaultLockDelay = 5 * time.Second
	// ClientTimeout is the shortest HTTP timeout the client given to New
	// should have: consul/api's lock watches its key with blocking queries
	// of Consul's default wait (5 minutes, stretched by up to a sixteenth),
	// and a client that gives up sooner makes every one of them fail and
	// be retried. The elector's own calls carry their own deadlines.
	ClientTimeout = 6 * time.Minute
)

const (
	// callTimeout bounds one call the elector makes on its own: session
	// create and destroy, lock release, a read of the key.
	callTimeout = 5 * time.Second
	// queryWait is how long the blocking queries made while campaigning
	// wait: consul/api's lock loop takes no context, so this bounds how
	// long the loop of a cancelled campaign lingers, and it stays under
	// drover's default --consul-timeout.
	queryWait = 5 * time.Second
	// monitorRetries lets consul/api's lock monitor ride out a few failed
	// queries (a Consul leader election, a client timeout) instead of
	// ending the term at the first: the renewals and the lease, not the
	// monitor, are what tell a leadership that is really gone.
	monitorRetries = 3
)

// Holder names the agent holding the lock; it is the lock key's value.
type Holder struct {
	// Instance is the drover instance the replicas belong to.
	Instance string `json:"instance"`
	// ID names the replica: its Nomad allocation, or hostname:pid.
	ID string `json:"id"`
	// Advertise is the URL the other replicas reach this one at.
	Advertise string `json:"advertise"`
	// Since is when it became leader.
	Since time.Time `json:"since"`
}

// Options configure New.
type Options struct {
	// Key is the lock's key, e.g. drover/<instance>/leader. Required.
	Key string
	// TTL is the session's TTL, and the lease a Term trusts after each
	// renewal. Default DefaultTTL; at least MinTTL.
	TTL time.Duration
	// LockDelay is how long Consul keeps the lock from anyone after a
	// session holding it is invalidated (not after a release), so a
	// leader that lost its session has time to notice before another
	// acts. Default DefaultLockDelay.
	LockDelay time.Duration
	// Holder is written as the lock's value; Since is set on acquiring.
	// Holder.ID is required.
	Holder Holder
	// Logger receives the debug lines of the lock's housekeeping.
	Logger zerolog.Logger
	// Emitter writes the leader.* events to the log and the bus
	// (default: to Logger only).
	Emitter *events.Emitter
	// Retry is the wait before campaign attempt n+1 after n failed in a
	// row (Consul unreachable, the session refused). Default
	// backoff.Exponential(1s, 30s, nil).
	Retry func(n int) time.Duration
}

// Elector campaigns for one lock key. Campaign is not to be called
// concurrently on one Elector; Leader may be called at any time.
type Elector struct {
	c    *consulapi.Client
	opts Options
	log  zerolog.Logger

	// beforeRenew, when set (by tests), runs before each renewal with
	// the term's context; blocking in it stands for a frozen process or
	// a renewal that hangs.
	beforeRenew func(context.Context)

	mu sync.Mutex
	// own is the session of the campaign under way, so the standby
	// watch does not announce this agent as someone else.
	own string
	// seen is the standby watch's view of the key, while it has one.
	seen seen
}

// seen is what the standby watch last read.
type seen struct {
	fresh  bool // the watch is running and its last query answered
	holder *Holder
	err    error
}

// New returns an elector over c, which should allow ClientTimeout for an
// HTTP exchange (see ClientTimeout).
func New(c *consulapi.Client, opts Options) (*Elector, error) {
	switch {
	case c == nil:
		return nil, errors.New("leader: no Consul client")
	case opts.Key == "":
		return nil, errors.New("leader: no lock key")
	case opts.Holder.ID == "":
		return nil, errors.New("leader: no holder ID")
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.TTL < MinTTL || opts.TTL > MaxTTL {
		return nil, fmt.Errorf("leader: TTL %s is outside what Consul accepts, %s to %s", opts.TTL, MinTTL, MaxTTL)
	}
	if opts.LockDelay <= 0 {
		opts.LockDelay = DefaultLockDelay
	}
	if opts.Retry == nil {
		opts.Retry = backoff.Exponential(time.Second, 30*time.Second, nil)
	}
	if opts.Emitter == nil {
		opts.Emitter = events.NewEmitter(opts.Logger, nil)
	}
	return &Elector{c: c, opts: opts, log: opts.Logger}, nil
}

// Leader returns who holds the lock, or nil when nobody does. While a
// campaign is waiting it answers from the campaign's watch of the key;
// otherwise it reads the key once.
func (e *Elector) Leader(ctx context.Context) (*Holder, error) {
	e.mu.Lock()
	s := e.seen
	e.mu.Unlock()
	if s.fresh {
		return s.holder.clone(), s.err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	pair, _, err := e.c.KV().Get(e.opts.Key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read leader key %s: %w", e.opts.Key, err)
	}
	h, _, err := holderOf(pair)
	return h, err
}

// holderOf decodes the lock key: its holder and session, or nil and ""
// when no session holds it (absent, released).
func holderOf(pair *consulapi.KVPair) (*Holder, string, error) {
	if pair == nil || pair.Session == "" {
		return nil, "", nil
	}
	var h Holder
	if err := json.Unmarshal(pair.Value, &h); err != nil {
		return nil, pair.Session, fmt.Errorf("leader key %s holds no holder (%q): %w", pair.Key, pair.Value, err)
	}
	return &h, pair.Session, nil
}

func (h *Holder) clone() *Holder {
	if h == nil {
		return nil
	}
	c := *h
	return &c
}

func (e *Elector) setSeen(s seen) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen = s
}

func (e *Elector) setOwn(session string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.own = session
}

func (e *Elector) isOwn(session string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return session == e.own
}

// writeOptions bounds a write by ctx.
func writeOptions(ctx context.Context) *consulapi.WriteOptions {
	return (&consulapi.WriteOptions{}).WithContext(ctx)
}

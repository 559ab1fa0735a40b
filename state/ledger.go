package state

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/drover-dev/drover/jobs"
)

// DefaultCallTimeout bounds one call to the store when LedgerOptions says
// nothing.
const DefaultCallTimeout = 10 * time.Second

// LedgerOptions configure a Ledger. The zero value is ready to use.
type LedgerOptions struct {
	// CallTimeout bounds every call the ledger makes to the store, within
	// the caller's context; default DefaultCallTimeout.
	CallTimeout time.Duration
	// OnConflict, when set, is told of every change someone else made to a
	// state key that the ledger adopted. It runs on the goroutine of the
	// Update or Refresh that found the change, with no lock of the ledger
	// held.
	OnConflict func(Conflict)
}

// Conflict is a change to a job's state key made by someone else than this
// ledger (an operator's `consul kv put` or `delete`, another agent): the
// store's copy won, and the changes this ledger had not yet written were
// applied again on top of it.
type Conflict struct {
	Key string
	Job jobs.Key
	// Deleted is set when the key was deleted: drover forgot the job's
	// state (quarantines included) unless changes were re-applied.
	Deleted bool
	// Reapplied counts the changes applied again on top of the store's copy.
	Reapplied int
}

// Ledger is the state of every job, kept in memory and in the store under
// one key per job. Every change is applied in memory at once and written
// with a compare-and-set on the key's index, so a write never overwrites a
// newer one, and an edit or delete made in the store by someone else is
// seen (by the next Refresh or the next write of that key) and wins over
// what drover remembered, with drover's unwritten changes applied on top.
// When the store is unreachable the ledger keeps working from memory and
// writes the changed jobs on a later Refresh: losing Consul for a minute
// must not make drover forget a quarantine.
type Ledger struct {
	kv     KV
	prefix string
	opts   LedgerOptions

	// refreshing serializes Refresh calls.
	refreshing sync.Mutex

	// mu guards the fields below and every entry's fields except slot. It
	// is never held during a call to the store.
	mu      sync.Mutex
	loaded  bool
	entries map[jobs.Key]*entry
	// seq counts changes of any entry's index, so Refresh can tell a key
	// whose index moved while its listing was on the way.
	seq uint64
	// stray are the keys under the prefix that name no job, from the last
	// listing.
	stray []Problem
}

// entry is one job's state.
type entry struct {
	k   jobs.Key
	key string
	// job is what drover knows; nil when nothing, or when the key is invalid.
	job *Job
	// index is the ModifyIndex of the stored copy job is based on; 0 when
	// the key is absent from the store.
	index uint64
	// seq is the ledger's seq when index last changed.
	seq uint64
	// gen counts changes to job; a write is of one generation.
	gen uint64
	// pending are the changes not yet written, oldest first, each with the
	// generation it produced. The key needs a write while there are any.
	pending []change
	// invalid is why the stored key cannot be read; job is nil meanwhile,
	// and the key is never written over.
	invalid error
	// unsure are writes against index whose outcome is unknown (the call
	// failed after it may have reached the store): finding one of them in
	// the store is our own write landing, not someone else's.
	unsure []attempt
	// slot is held (a token in it) by whoever writes or reconciles the
	// key, so writes of one key happen one after the other, each of the
	// newest generation.
	slot chan struct{}
}

type change struct {
	gen uint64
	fn  func(*Job)
}

type attempt struct {
	gen  uint64
	body []byte
}

// maxUnsure bounds the writes of unknown outcome remembered per key; one
// forgotten only costs a needless conflict.
const maxUnsure = 4

// NewLedger returns a ledger over the jobs stored under prefix, which
// should end in "/". Nothing is read until Refresh.
func NewLedger(kv KV, prefix string, opts LedgerOptions) *Ledger {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	return &Ledger{kv: kv, prefix: prefix, opts: opts, entries: map[jobs.Key]*entry{}}
}

// Prefix is where the ledger keeps its jobs.
func (l *Ledger) Prefix() string { return l.prefix }

// Loaded reports whether the store has been read at least once.
func (l *Ledger) Loaded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loaded
}

// Get returns a copy of a job's state, or nil when drover knows nothing of
// it or its key is invalid (see Invalid).
func (l *Ledger) Get(k jobs.Key) *Job {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[k]; e != nil {
		return e.job.Clone()
	}
	return nil
}

// All returns a copy of every job's state, sorted by key. Jobs whose key is
// invalid are not in it.
func (l *Ledger) All() []*Job {
	l.mu.Lock()
	out := make([]*Job, 0, len(l.entries))
	for _, e := range l.entries {
		if e.job != nil {
			out = append(out, e.job.Clone())
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Key().String() < out[b].Key().String() })
	return out
}

// Invalid returns why job k's state key cannot be read (it wraps
// ErrInvalid and names the key), or nil when it can. A job with an invalid
// key must be held: what drover remembered of it is unknown.
func (l *Ledger) Invalid(k jobs.Key) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[k]; e != nil {
		return e.invalid
	}
	return nil
}

// Problems returns every key under the prefix that is not usable state,
// sorted by key: invalid job keys, and keys that name no job.
func (l *Ledger) Problems() []Problem {
	l.mu.Lock()
	out := append([]Problem(nil), l.stray...)
	for _, e := range l.entries {
		if e.invalid != nil {
			k := e.k
			out = append(out, Problem{Key: e.key, Job: &k, Err: e.invalid})
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Key < out[b].Key })
	return out
}

// Update changes a job's state in memory, where readers see it at once,
// and writes it to the store. The change is kept when the write fails, and
// written by a later Update of the job or Refresh. change may be applied
// again, on top of a copy someone else wrote in the store, so it must say
// what to set (not toggle or count) and must not call the ledger. It
// returns the job's state after the write, and an error when the state is
// not (yet) in the store; while the job's key is invalid the change is
// kept for when the key is fixed, and Update returns nil and that error.
// A write the store fenced off (the error wraps ErrFenced) is tried once:
// the change stays pending, and this ledger's leadership is over.
func (l *Ledger) Update(ctx context.Context, k jobs.Key, fn func(*Job)) (*Job, error) {
	l.mu.Lock()
	e := l.entry(k)
	e.gen++
	e.pending = append(e.pending, change{gen: e.gen, fn: fn})
	if e.invalid != nil {
		err := e.invalid
		l.mu.Unlock()
		return nil, err
	}
	if e.job == nil {
		e.job = &Job{Namespace: k.Namespace, ID: k.ID}
	}
	fn(e.job)
	l.mu.Unlock()

	conflicts, err := l.write(ctx, e)
	l.report(conflicts)
	return l.Get(k), err
}

// Refresh reads every job's state key (one listing) and adopts what
// someone else changed since the ledger last read or wrote it, then writes
// every job whose earlier write failed. Until a listing succeeds the
// ledger knows nothing, Loaded is false and Refresh returns the error:
// callers must not act on its silence. After that an error means some
// state is not (yet) in the store or not re-read; memory stays valid.
// Keys that are not usable state are reported by Invalid and Problems,
// not as an error.
func (l *Ledger) Refresh(ctx context.Context) error {
	l.refreshing.Lock()
	defer l.refreshing.Unlock()

	l.mu.Lock()
	start, loaded := l.seq, l.loaded
	l.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, l.opts.CallTimeout)
	pairs, err := l.kv.List(cctx, l.jobsPrefix())
	cancel()
	if err != nil {
		return fmt.Errorf("read state under %s: %w", l.jobsPrefix(), err)
	}
	stored := map[jobs.Key]*Pair{}
	var stray []Problem
	for i := range pairs {
		p := &pairs[i]
		k, folder, err := l.jobOf(p.Key)
		switch {
		case folder:
		case err != nil:
			stray = append(stray, Problem{Key: p.Key, Err: err})
		default:
			stored[k] = p
		}
	}

	l.mu.Lock()
	l.stray = stray
	var changed []*entry
	for k, p := range stored {
		if e := l.entry(k); e.index != p.ModifyIndex && e.seq <= start {
			changed = append(changed, e)
		}
	}
	for k, e := range l.entries {
		if stored[k] == nil && e.index != 0 && e.seq <= start {
			changed = append(changed, e)
		}
	}
	l.mu.Unlock()

	var conflicts []Conflict
	for _, e := range changed {
		if loaded && !e.tryAcquire() {
			// A write of the key is under way; its compare-and-set
			// finds what changed, and the next listing tells too.
			continue
		}
		// The first read must be complete before Loaded says so.
		if !loaded {
			if err := e.acquire(ctx); err != nil {
				l.report(conflicts)
				return fmt.Errorf("read state under %s: %w", l.jobsPrefix(), err)
			}
		}
		l.mu.Lock()
		// A write of the key may have landed since the listing: then
		// the listing is older than memory, and the next one tells.
		if p := stored[e.k]; e.seq <= start && e.index != indexOf(p) {
			if c := l.adopt(e, p, loaded); c != nil {
				conflicts = append(conflicts, *c)
			}
		}
		l.mu.Unlock()
		e.release()
	}
	l.mu.Lock()
	l.loaded = true
	l.mu.Unlock()
	l.report(conflicts)
	return l.writeAll(ctx)
}

// writeAll writes every job with changes not yet in the store.
func (l *Ledger) writeAll(ctx context.Context) error {
	l.mu.Lock()
	var dirty []*entry
	for _, e := range l.entries {
		if len(e.pending) > 0 && e.invalid == nil {
			dirty = append(dirty, e)
		}
	}
	l.mu.Unlock()
	sort.Slice(dirty, func(a, b int) bool { return dirty[a].key < dirty[b].key })
	var errs []error
	for i, e := range dirty {
		conflicts, err := l.write(ctx, e)
		l.report(conflicts)
		if err == nil || errors.Is(err, ErrInvalid) {
			continue
		}
		errs = append(errs, err)
		// A store that does not answer in time will not answer the
		// next key either, and a fenced write means every other one
		// is fenced too: leave the rest for the next Refresh rather
		// than spend a timeout or a refused write on each.
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrFenced) {
			if n := len(dirty) - i - 1; n > 0 {
				errs = append(errs, fmt.Errorf("%d more job states not written", n))
			}
			break
		}
	}
	return errors.Join(errs...)
}

// entry returns k's entry, creating an empty one. l.mu must be held.
func (l *Ledger) entry(k jobs.Key) *entry {
	e := l.entries[k]
	if e == nil {
		e = &entry{k: k, key: l.key(k), slot: make(chan struct{}, 1)}
		l.entries[k] = e
	}
	return e
}

func (l *Ledger) report(conflicts []Conflict) {
	if l.opts.OnConflict == nil {
		return
	}
	for _, c := range conflicts {
		l.opts.OnConflict(c)
	}
}

func (e *entry) acquire(ctx context.Context) error {
	select {
	case e.slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *entry) tryAcquire() bool {
	select {
	case e.slot <- struct{}{}:
		return true
	default:
		return false
	}
}

func (e *entry) release() { <-e.slot }

func indexOf(p *Pair) uint64 {
	if p == nil {
		return 0
	}
	return p.ModifyIndex
}

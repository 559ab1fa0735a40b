package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	gosync "sync"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// Nomad is the part of the Nomad API the watcher needs: cluster-wide
// blocking queries. Index 0 asks for an answer at once; a query must
// return when its context ends.
type Nomad interface {
	Allocations(ctx context.Context, index uint64, wait time.Duration) ([]*api.AllocationListStub, uint64, error)
	Deployments(ctx context.Context, index uint64, wait time.Duration) ([]*api.Deployment, uint64, error)
}

// Consul is the part of the Consul API the watcher needs, with the same
// rules as Nomad's.
type Consul interface {
	Checks(ctx context.Context, index uint64, wait time.Duration) ([]*consulapi.HealthCheck, uint64, error)
}

// CheckOutputs reads the live output of checks from the local Consul agent,
// by check ID. The catalog, which the blocking query reads, updates a
// check's output only when its status changes (or every
// check_update_interval, 5m by default), so a check that was critical from
// the start shows no output there.
type CheckOutputs interface {
	CheckOutputs(ctx context.Context) (map[string]string, error)
}

// WatcherOptions tune a Watcher; the zero value is sensible.
type WatcherOptions struct {
	// Wait is how long one blocking query waits; default 1m.
	Wait time.Duration
	// CallTimeout bounds a query that answers at once; a blocking query
	// gets Wait, plus Wait/16 (the jitter servers add to it), plus
	// CallTimeout. A source that does not answer in time is unreachable.
	// Default 10s.
	CallTimeout time.Duration
	// Pause is the least time between two queries of one source, so a
	// burst of changes costs one query; default 250ms.
	Pause time.Duration
	// Tick is how often time-based rules are applied without a change;
	// default 1s.
	Tick time.Duration
	// Retry is the delay after the n-th consecutive failed query;
	// default doubling from 1s to 30s.
	Retry func(attempt int) time.Duration
	Now   func() time.Time
}

// Watcher follows rollouts. Three blocking queries — every allocation and
// every deployment in Nomad, every check in Consul — run while at least one
// rollout is watched, whatever the number of rollouts, and stop when none is.
//
// A blocking query in flight says nothing until it returns, so the data
// of a source is only known to be as new as its last successful query was
// sent (its asOf). When a rollout's verdict is due and needs newer data,
// the watcher asks for a fresh read: the source's blocking query is
// cancelled and one that answers at once is sent. One such read serves
// every watch that needs data no newer than it was sent, so the cost is
// a query per source per threshold, not per rollout.
type Watcher struct {
	nomad  Nomad
	consul Consul
	opts   WatcherOptions
	// ctx is the owner's: the feeds run under it.
	ctx context.Context

	mu      gosync.Mutex
	watches int
	stop    context.CancelFunc
	// feeds counts the goroutines of the current feeds. Each start of the
	// feeds gets a new one: the last watch waits for the feeds it stopped,
	// not for those a new first watch has started since.
	feeds *gosync.WaitGroup
	// changed is closed, and replaced, whenever a source answers.
	changed chan struct{}
	view    view
}

// view is the newest answer of each source, indexed for lookups, and the
// state of each source's feed. Each start of the feeds makes a new one.
type view struct {
	allocs             map[jobs.Key][]*api.AllocationListStub
	deployments        map[jobs.Key][]*api.Deployment
	checks             map[string][]*consulapi.HealthCheck
	allocsSrc, depsSrc *source
	checksSrc          *source
}

// source is where one feed stands; guarded by Watcher.mu.
type source struct {
	// asOf is when the last successful query was sent; zero before one.
	asOf time.Time
	// err is why the newest query failed; nil after a success.
	err error
	// need is the newest time a watch needs this source's data to reach.
	need time.Time
	// blocking is whether the query in flight waits for a change; cancel
	// ends it (nil when none is in flight); refreshing, that it was
	// cancelled to make way for a fresh read.
	blocking   bool
	cancel     context.CancelFunc
	refreshing bool
}

// answered reports whether the source has answered or failed.
func (s *source) answered() bool { return !s.asOf.IsZero() || s.err != nil }

// NewWatcher returns a watcher over the two clusters. consul may be nil:
// checks are then unknown. The feeds run under ctx: they start with the
// first watch, stop with the last, and stop for good when ctx ends.
func NewWatcher(ctx context.Context, nomad Nomad, consul Consul, opts WatcherOptions) *Watcher {
	if opts.Wait <= 0 {
		opts.Wait = time.Minute
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.Pause <= 0 {
		opts.Pause = 250 * time.Millisecond
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.Retry == nil {
		opts.Retry = backoff.Exponential(time.Second, 30*time.Second, backoff.NoJitter)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Watcher{nomad: nomad, consul: consul, opts: opts, ctx: ctx, changed: make(chan struct{})}
}

// Watch follows t until tracker reaches a final verdict, calling progress
// each time the phase, its being unresolved or the reachability of a
// source changes. It returns the final verdict, or the error of ctx or of
// the watcher's own context when one ends first.
func (w *Watcher) Watch(ctx context.Context, t Target, tracker *Tracker, progress func(Verdict)) (Verdict, error) {
	w.attach()
	defer w.detach()
	tick := time.NewTicker(w.opts.Tick)
	defer tick.Stop()
	var last, reported Verdict
	hasReported := false
	for {
		// The tracker steps whether or not the sources have answered:
		// its clock runs on, and a source that does not answer turns
		// into an error within the call timeout.
		changed, obs, settled := w.observe(t)
		v := tracker.Step(w.opts.Now(), Assess(t, obs))
		last = v
		// The first report waits for every source's first answer (or
		// error), so it says what the sources show.
		report := !hasReported && (settled || v.Phase != state.Watching)
		if hasReported && (v.Phase != reported.Phase || v.Unresolved != reported.Unresolved || v.Unreachable != reported.Unreachable) {
			report = true
		}
		if report {
			hasReported, reported = true, v
			if progress != nil {
				progress(v)
			}
		}
		if v.Final() {
			w.explain(ctx, &v)
			return v, nil
		}
		if !v.NeedFresh.IsZero() {
			w.refresh(t, v.NeedFresh)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-w.ctx.Done():
			return last, w.ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// explain adds the live output of failed checks when Consul can give it.
func (w *Watcher) explain(ctx context.Context, v *Verdict) {
	co, ok := w.consul.(CheckOutputs)
	if !ok || v.Phase != state.Failed {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
	defer cancel()
	if outputs, err := co.CheckOutputs(ctx); err == nil {
		v.explain(outputs)
	}
}

// observe returns what the sources show of t, and whether every source it
// needs has answered (or failed) at least once.
func (w *Watcher) observe(t Target) (<-chan struct{}, Observation, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := &w.view
	k := jobs.Key{Namespace: t.Namespace, ID: t.JobID}
	o := Observation{
		Allocs: v.allocs[k], Deployments: v.deployments[k],
		NomadErr:     firstErr(v.allocsSrc.err, v.depsSrc.err),
		NomadPending: !v.allocsSrc.answered() || !v.depsSrc.answered(),
		AsOf:         oldest(v.allocsSrc.asOf, v.depsSrc.asOf),
	}
	settled := !o.NomadPending
	if len(t.Services) > 0 {
		for _, s := range t.Services {
			o.Checks = append(o.Checks, v.checks[s]...)
		}
	}
	if t.needsChecks() {
		if w.consul == nil {
			o.ConsulErr = errors.New("no Consul configured")
		} else {
			o.ConsulErr, o.ConsulPending = v.checksSrc.err, !v.checksSrc.answered()
			o.AsOf = oldest(o.AsOf, v.checksSrc.asOf)
			settled = settled && !o.ConsulPending
		}
	}
	return w.changed, o, settled
}

// refresh asks the sources t needs for data at least as new as need. A
// source whose data is older cancels its blocking query; its feed then
// sends one that answers at once. One such query sent at or after need
// serves every watch.
func (w *Watcher) refresh(t Target, need time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	srcs := []*source{w.view.allocsSrc, w.view.depsSrc}
	if t.needsChecks() && w.consul != nil {
		srcs = append(srcs, w.view.checksSrc)
	}
	for _, s := range srcs {
		if !s.asOf.Before(need) {
			continue
		}
		if need.After(s.need) {
			s.need = need
		}
		// A blocking query is cancelled even if sent after need: it
		// answers only on a change or after Wait. A query that answers at
		// once is left to finish: it is bounded by the call timeout, and
		// the feed follows it with another if it was sent too early.
		if s.cancel != nil && s.blocking && !s.refreshing {
			s.refreshing = true
			s.cancel()
		}
	}
}

func (w *Watcher) attach() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watches++
	if w.watches > 1 {
		return
	}
	// The feeds stop with the last watch; a new first watch must not see
	// what they showed back then.
	w.view = view{allocsSrc: &source{}, depsSrc: &source{}, checksSrc: &source{}}
	ctx, cancel := context.WithCancel(w.ctx)
	w.stop = cancel
	feeds := &gosync.WaitGroup{}
	w.feeds = feeds
	feeds.Go(func() {
		feed(ctx, w, w.view.allocsSrc, w.nomad.Allocations, func(v *view, allocs []*api.AllocationListStub) {
			v.allocs = groupBy(allocs, func(a *api.AllocationListStub) jobs.Key { return jobs.Key{Namespace: a.Namespace, ID: a.JobID} })
		})
	})
	feeds.Go(func() {
		feed(ctx, w, w.view.depsSrc, w.nomad.Deployments, func(v *view, deps []*api.Deployment) {
			v.deployments = groupBy(deps, func(d *api.Deployment) jobs.Key { return jobs.Key{Namespace: d.Namespace, ID: d.JobID} })
		})
	})
	if w.consul != nil {
		feeds.Go(func() {
			feed(ctx, w, w.view.checksSrc, w.consul.Checks, func(v *view, checks []*consulapi.HealthCheck) {
				v.checks = groupBy(checks, func(c *consulapi.HealthCheck) string { return c.ServiceName })
			})
		})
	}
}

func (w *Watcher) detach() {
	w.mu.Lock()
	w.watches--
	last := w.watches == 0
	feeds := w.feeds
	if last {
		w.stop()
	}
	w.mu.Unlock()
	if last {
		feeds.Wait()
	}
}

// feed runs one source's queries in a loop until ctx ends, storing each
// answer (or error) in the view and waking the watches. Its first query,
// the one after an error and any fresh read a watch asks for answer at
// once; the others block until a change. Every query has a deadline, so
// a source that hangs shows as an error, never as silence.
func feed[T any](ctx context.Context, w *Watcher, src *source, query func(context.Context, uint64, time.Duration) (T, uint64, error), store func(*view, T)) {
	var index uint64
	failures := 0
	for {
		w.mu.Lock()
		if ctx.Err() != nil {
			w.mu.Unlock()
			return
		}
		sent := w.opts.Now()
		blocking := index != 0 && !src.asOf.Before(src.need)
		qIndex, wait, timeout := uint64(0), time.Duration(0), w.opts.CallTimeout
		if blocking {
			qIndex, wait = index, w.opts.Wait
			timeout += wait + wait/16
		}
		qctx, cancel := context.WithTimeout(ctx, timeout)
		src.blocking, src.cancel, src.refreshing = blocking, cancel, false
		w.mu.Unlock()

		got, next, err := query(qctx, qIndex, wait)
		if err != nil && errors.Is(qctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		cancel()

		w.mu.Lock()
		if ctx.Err() != nil {
			// Stopped while querying: the view may already belong to the
			// feeds of a newer watch.
			w.mu.Unlock()
			return
		}
		refreshing := src.refreshing
		src.cancel = nil
		if err != nil && refreshing {
			// Cancelled for a fresh read, which follows at once.
			w.mu.Unlock()
			continue
		}
		if err != nil {
			src.err = err
		} else {
			src.err, src.asOf = nil, sent
			store(&w.view, got)
		}
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()

		pause := w.opts.Pause
		if err != nil {
			failures++
			pause = w.opts.Retry(failures)
			// Start over: the index may belong to a server that is gone.
			index = 0
		} else {
			failures = 0
			// An index going backwards (a restored or new server) must not
			// leave the query blocking on a future that never comes.
			if next < index {
				next = 0
			}
			index = next
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// groupBy indexes a source's answer for the watches' lookups.
func groupBy[K comparable, T any](items []T, key func(T) K) map[K][]T {
	out := make(map[K][]T)
	for _, it := range items {
		k := key(it)
		out[k] = append(out[k], it)
	}
	return out
}

// firstErr is the first non-nil error: both Nomad feeds usually fail for
// the same reason, which is worth saying once.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// oldest is the earliest of times, zero if any is zero (a source that has
// not answered makes the whole observation of unknown age).
func oldest(ts ...time.Time) time.Time {
	var out time.Time
	for i, t := range ts {
		if t.IsZero() {
			return time.Time{}
		}
		if i == 0 || t.Before(out) {
			out = t
		}
	}
	return out
}

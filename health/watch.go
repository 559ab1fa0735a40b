package health

import (
	"context"
	"errors"
	"time"

	gosync "sync"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// Nomad is the part of the Nomad API the watcher needs: cluster-wide
// blocking queries.
type Nomad interface {
	Allocations(ctx context.Context, index uint64, wait time.Duration) ([]*api.AllocationListStub, uint64, error)
	Deployments(ctx context.Context, index uint64, wait time.Duration) ([]*api.Deployment, uint64, error)
}

// Consul is the part of the Consul API the watcher needs.
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
type Watcher struct {
	nomad  Nomad
	consul Consul
	opts   WatcherOptions

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

// view is the newest answer of each source, indexed for lookups.
type view struct {
	allocs             map[jobs.Key][]*api.AllocationListStub
	deployments        map[jobs.Key][]*api.Deployment
	checks             map[string][]*consulapi.HealthCheck
	allocsOK, depsOK   bool
	checksOK           bool
	allocsErr, depsErr error
	consulErr          error
}

// NewWatcher returns a watcher over the two clusters. consul may be nil:
// checks are then unknown.
func NewWatcher(nomad Nomad, consul Consul, opts WatcherOptions) *Watcher {
	if opts.Wait <= 0 {
		opts.Wait = time.Minute
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
	return &Watcher{nomad: nomad, consul: consul, opts: opts, changed: make(chan struct{})}
}

// Watch follows t until tracker reaches a verdict, calling progress each
// time the phase or the reachability of a source changes. It returns the
// final verdict, or ctx's error when cancelled first.
func (w *Watcher) Watch(ctx context.Context, t Target, tracker *Tracker, progress func(Verdict)) (Verdict, error) {
	w.attach()
	defer w.detach()
	tick := time.NewTicker(w.opts.Tick)
	defer tick.Stop()
	var last Verdict
	first := true
	for {
		changed, obs, ready := w.observe(t)
		if ready {
			v := tracker.Step(w.opts.Now(), Assess(t, obs))
			if first || v.Phase != last.Phase || v.Unreachable != last.Unreachable {
				if progress != nil {
					progress(v)
				}
			}
			first, last = false, v
			if v.Final() {
				w.explain(ctx, &v)
				return v, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
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
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
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
	o := Observation{Allocs: v.allocs[k], Deployments: v.deployments[k], NomadErr: firstErr(v.allocsErr, v.depsErr), ConsulErr: v.consulErr}
	ready := (v.allocsOK && v.depsOK) || o.NomadErr != nil
	if len(t.Services) > 0 {
		if w.consul == nil {
			o.ConsulErr = errors.New("no Consul configured")
		} else {
			ready = ready && (v.checksOK || v.consulErr != nil)
		}
		for _, s := range t.Services {
			o.Checks = append(o.Checks, v.checks[s]...)
		}
	}
	return w.changed, o, ready
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
	w.view = view{}
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	feeds := &gosync.WaitGroup{}
	w.feeds = feeds
	feeds.Add(2)
	go func() {
		defer feeds.Done()
		feed(ctx, w, w.nomad.Allocations, func(v *view, allocs []*api.AllocationListStub, err error) {
			if v.allocsErr = err; err != nil {
				return
			}
			v.allocs = groupBy(allocs, func(a *api.AllocationListStub) jobs.Key { return jobs.Key{Namespace: a.Namespace, ID: a.JobID} })
			v.allocsOK = true
		})
	}()
	go func() {
		defer feeds.Done()
		feed(ctx, w, w.nomad.Deployments, func(v *view, deps []*api.Deployment, err error) {
			if v.depsErr = err; err != nil {
				return
			}
			v.deployments = groupBy(deps, func(d *api.Deployment) jobs.Key { return jobs.Key{Namespace: d.Namespace, ID: d.JobID} })
			v.depsOK = true
		})
	}()
	if w.consul != nil {
		feeds.Add(1)
		go func() {
			defer feeds.Done()
			feed(ctx, w, w.consul.Checks, func(v *view, checks []*consulapi.HealthCheck, err error) {
				if v.consulErr = err; err != nil {
					return
				}
				v.checks = groupBy(checks, func(c *consulapi.HealthCheck) string { return c.ServiceName })
				v.checksOK = true
			})
		}()
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

// feed runs one blocking query in a loop until ctx ends, storing each
// answer (or error) in the view and waking the watches.
func feed[T any](ctx context.Context, w *Watcher, query func(context.Context, uint64, time.Duration) (T, uint64, error), store func(*view, T, error)) {
	var index uint64
	failures := 0
	for ctx.Err() == nil {
		got, next, err := query(ctx, index, w.opts.Wait)
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		if ctx.Err() != nil {
			// Stopped while querying: the view may already belong to the
			// feeds of a newer watch.
			w.mu.Unlock()
			return
		}
		store(&w.view, got, err)
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

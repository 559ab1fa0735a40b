package health

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"sync"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/watch"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// Nomad is the part of the Nomad API the watcher needs: an event stream
// of the watched jobs and a read of one job. Calls must return when their
// context ends.
type Nomad interface {
	// Events streams the allocation and deployment events of the jobs
	// with these IDs (any namespace) from index on. It returns once Nomad
	// answered; the channel closes when ctx ends or after a batch with Err.
	Events(ctx context.Context, jobIDs []string, index uint64) (<-chan *api.Events, error)
	// JobStatus reads one job's allocations and deployments now, with
	// the index of the read.
	JobStatus(ctx context.Context, namespace, id string) ([]*api.AllocationListStub, []*api.Deployment, uint64, error)
}

// Consul is the part of the Consul API the watcher needs: a blocking
// query of the checks of some services. Index 0 asks for an answer at
// once; a query must return when its context ends.
type Consul interface {
	Checks(ctx context.Context, services []string, index uint64, wait time.Duration) ([]*consulapi.HealthCheck, uint64, error)
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
	// CallTimeout. An input that does not answer in time is unreachable.
	// Default 10s.
	CallTimeout time.Duration
	// Pause is the least time between two queries of one input, so a
	// burst of changes costs one query; default 250ms.
	Pause time.Duration
	// Tick is the longest a watch goes without judging its rollout again
	// when nothing wakes it. A watch wakes on news of its job or of its
	// services' checks, on a fresh answer it is waiting for, and at its
	// verdict's Recheck, the next moment a rule of the clock comes due;
	// so Tick is only a backstop. Default 15s.
	Tick time.Duration
	// Retry is the delay after the n-th consecutive failed query;
	// default doubling from 1s to 30s.
	Retry func(attempt int) time.Duration
	// Reads bounds the reads of single jobs in flight at once; default 8.
	Reads int
	Now   func() time.Time
}

// Watcher follows rollouts, at a cost in proportion to what changes in
// the jobs it watches, not to the size of the cluster.
//
// Nomad: one event stream (topics Allocation and Deployment, filtered by
// Nomad on the watched jobs' IDs) runs while at least one rollout is
// watched, whatever their number. A job is read once on its own
// (/v1/job/:id/allocations and /deployments) after the stream that
// includes it is up, and events then update what the read showed; an
// object is replaced only by a newer ModifyIndex, so a late or repeated
// event never undoes newer data. Watches that start together (a cycle
// starts them all at its end) make one new subscription: it starts from
// the last index the old one delivered and the old one is closed only once
// the new one is up, so the jobs already watched miss nothing. Nomad keeps
// only a short buffer of events (100 raft indexes by default) and starts a
// stream whose index has left it at the oldest one it has, without an
// error; so after a dropped stream the watcher cannot know what it missed
// and reads every watched job again.
//
// Freshness: events arrive with no proof of how current the stream is
// (its heartbeats carry no index), so a job's data is only known to be as
// new as its last read was sent (its asOf). When a verdict needs newer
// data, that job is read again: one read, shared by every watch of the
// job, never the whole cluster. An event that shows an allocation the
// watcher has not seen triggers a read as well: the event's allocation
// carries no job version, which the verdict needs.
//
// Consul: one blocking query of the checks of the watched services only
// (a filter on their names), restarted at once when a service is added.
// A blocking query in flight says nothing until it returns, so Consul's
// data is as new as its last successful query was sent; a verdict that
// needs newer data cancels the blocking query for one that answers at
// once, which serves every watch.
type Watcher struct {
	nomad  Nomad
	consul Consul
	opts   WatcherOptions
	// ctx is the owner's: the feeds run under it.
	ctx context.Context
	// reads bounds the job reads in flight.
	reads chan struct{}

	mu      sync.Mutex
	watches int
	stop    context.CancelFunc
	// feedCtx is the current feeds' context, ended by stop.
	feedCtx context.Context
	// feeds counts the goroutines of the current feeds. Each start of the
	// feeds gets a new one: the last watch waits for the feeds it stopped,
	// not for those a new first watch has started since.
	feeds *sync.WaitGroup
	// answered is closed, and replaced, each time Consul answers: news
	// for the watches waiting for data fresher than they have, or for a
	// first answer. Other news wakes only the watches of the job it
	// concerns (jobFeed.changed): a Nomad event, a read, a change of the
	// checks of the job's services. So an event costs its job's watches,
	// and a thousand quiet watches cost nothing between their rechecks.
	answered chan struct{}
	view     view
}

// view is what the inputs show of the watched jobs, and the state of
// each feed. Each start of the feeds makes a new one.
type view struct {
	jobs map[jobs.Key]*jobFeed
	// index is the last index the Nomad stream delivered; grown says the
	// watched jobs grew since the stream was subscribed.
	index uint64
	grown chan struct{}
	// services counts the watches of each Consul service.
	services map[string]int
	checks   map[string][]*consulapi.HealthCheck
	checksIn *input
}

// input is where one feed stands; guarded by Watcher.mu.
type input struct {
	// asOf is when the last successful query was sent; zero before one.
	asOf time.Time
	// err is why the newest query failed; nil after a success.
	err error
	// need is the newest time a watch needs this input's data to reach.
	need time.Time
	// blocking is whether the query in flight waits for a change; cancel
	// ends it (nil when none is in flight); refreshing, that it was
	// cancelled to make way for a fresh read.
	blocking   bool
	cancel     context.CancelFunc
	refreshing bool
}

// answered reports whether the input has answered or failed.
func (s *input) answered() bool { return !s.asOf.IsZero() || s.err != nil }

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
		opts.Tick = 15 * time.Second
	}
	if opts.Retry == nil {
		opts.Retry = backoff.Exponential(time.Second, 30*time.Second, backoff.NoJitter)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Reads <= 0 {
		opts.Reads = 8
	}
	return &Watcher{nomad: nomad, consul: consul, opts: opts, ctx: ctx, reads: make(chan struct{}, opts.Reads), answered: make(chan struct{})}
}

// Watch follows t until tracker reaches a final verdict, calling progress
// each time the phase, its being unresolved or the reachability of a
// input changes. It returns the final verdict, or the error of ctx or of
// the watcher's own context when one ends first.
func (w *Watcher) Watch(ctx context.Context, t Target, tracker *Tracker, progress func(Verdict)) (Verdict, error) {
	w.attach(t)
	defer w.detach(t)
	timer := time.NewTimer(w.opts.Tick)
	defer timer.Stop()
	var last, reported Verdict
	hasReported := false
	for {
		// The tracker steps whether or not the inputs have answered:
		// its clock runs on, and an input that does not answer turns
		// into an error within the call timeout.
		answered, news, obs, settled := w.observe(t)
		now := w.opts.Now()
		v := tracker.Step(now, Assess(t, obs))
		last = v
		// The first report waits for every input's first answer (or
		// error), so it says what the inputs show.
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
		wake := now.Add(w.opts.Tick)
		if !v.Recheck.IsZero() && v.Recheck.Before(wake) {
			wake = v.Recheck
		}
		if v.NeedFresh.IsZero() && settled {
			// Consul's answers are news to this watch only when they
			// change its services' checks, which wakes its job.
			answered = nil
		} else if !v.NeedFresh.IsZero() {
			if retry := w.refresh(t, v.NeedFresh); !retry.IsZero() && retry.Before(wake) {
				wake = retry
			}
		}
		timer.Reset(max(wake.Sub(now), 0))
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-w.ctx.Done():
			return last, w.ctx.Err()
		case <-answered:
		case <-news:
		case <-timer.C:
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

// observe returns what the inputs show of t, whether every input it
// needs has answered (or failed) at least once, and the channels closed
// when Consul answers and on news of t's job.
func (w *Watcher) observe(t Target) (<-chan struct{}, <-chan struct{}, Observation, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := &w.view
	jf := v.jobs[t.key()]
	o := Observation{
		Allocs: jf.allocList(), Deployments: jf.deploymentList(),
		NomadErr: jf.err, NomadPending: !jf.answered(), AsOf: jf.asOf,
	}
	settled := !o.NomadPending
	for _, s := range t.Services {
		o.Checks = append(o.Checks, v.checks[s]...)
	}
	if t.needsChecks() {
		if w.consul == nil {
			o.ConsulErr = errors.New("no Consul configured")
		} else {
			o.ConsulErr, o.ConsulPending = v.checksIn.err, !v.checksIn.answered()
			o.AsOf = oldest(o.AsOf, v.checksIn.asOf)
			settled = settled && !o.ConsulPending
		}
	}
	return w.answered, jf.changed, o, settled
}

// refresh asks the inputs t needs for data at least as new as need: a
// read of t's job, and Consul's fresh read. One read sent at or after
// need serves every watch of the job; one Consul query, every watch. It
// returns when to ask again if the job's reads are backing off.
func (w *Watcher) refresh(t Target, need time.Time) (retry time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if jf := w.view.jobs[t.key()]; jf.asOf.Before(need) {
		if need.After(jf.need) {
			jf.need = need
		}
		// A read in flight reads again when done if it was sent too
		// early; a job whose reads fail waits for its backoff.
		switch {
		case jf.reading:
		case w.opts.Now().Before(jf.retryAt):
			retry = jf.retryAt
		default:
			w.readLocked(t.key(), jf)
		}
	}
	if t.needsChecks() && w.consul != nil {
		w.refreshChecksLocked(need)
	}
	return retry
}

// refreshChecksLocked makes Consul's next query answer at once if its
// data is older than need. Needs w.mu held.
func (w *Watcher) refreshChecksLocked(need time.Time) {
	s := w.view.checksIn
	if !s.asOf.Before(need) {
		return
	}
	if need.After(s.need) {
		s.need = need
	}
	// A blocking query is cancelled even if sent after need: it answers
	// only on a change or after Wait. A query that answers at once is left
	// to finish: it is bounded by the call timeout, and the feed follows
	// it with another if it was sent too early.
	if s.cancel != nil && s.blocking && !s.refreshing {
		s.refreshing = true
		s.cancel()
	}
}

func (w *Watcher) attach(t Target) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watches++
	if w.watches == 1 {
		w.start()
	}
	k := t.key()
	jf := w.view.jobs[k]
	if jf == nil {
		jf = newJobFeed()
		w.view.jobs[k] = jf
		select {
		case w.view.grown <- struct{}{}:
		default:
		}
	}
	jf.watches++
	added := false
	for _, s := range t.Services {
		w.view.services[s]++
		jf.services[s]++
		added = added || w.view.services[s] == 1
	}
	if added && w.consul != nil {
		// The query in flight does not ask for the new service.
		w.refreshChecksLocked(w.opts.Now())
	}
}

// start starts the feeds for a first watch. Needs w.mu held.
func (w *Watcher) start() {
	// The feeds stop with the last watch; a new first watch must not see
	// what they showed back then.
	w.view = view{
		jobs: map[jobs.Key]*jobFeed{}, grown: make(chan struct{}, 1),
		services: map[string]int{}, checksIn: &input{},
	}
	ctx, cancel := context.WithCancel(w.ctx)
	w.stop, w.feedCtx = cancel, ctx
	feeds := &sync.WaitGroup{}
	w.feeds = feeds
	feeds.Go(func() { w.stream(ctx) })
	if w.consul != nil {
		feeds.Go(func() {
			feed(ctx, w, w.view.checksIn, "checks", w.queryChecks, func(v *view, checks []*consulapi.HealthCheck) {
				next := groupBy(checks, func(c *consulapi.HealthCheck) string { return c.ServiceName })
				changed := changedServices(v.checks, next)
				v.checks = next
				for _, jf := range v.jobs {
					for s := range jf.services {
						if changed[s] {
							jf.wake()
							break
						}
					}
				}
			})
		})
	}
}

func (w *Watcher) detach(t Target) {
	w.mu.Lock()
	k := t.key()
	if jf := w.view.jobs[k]; jf != nil {
		// Its events are dropped from now on; the stream keeps asking for
		// it until the next subscription, which costs nothing more.
		if jf.watches--; jf.watches == 0 {
			delete(w.view.jobs, k)
		}
		for _, s := range t.Services {
			if jf.services[s]--; jf.services[s] <= 0 {
				delete(jf.services, s)
			}
		}
	}
	for _, s := range t.Services {
		if w.view.services[s]--; w.view.services[s] <= 0 {
			delete(w.view.services, s)
		}
	}
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

// queryChecks is Consul's query over the watched services. With none it
// answers no checks, at once for a first query, else after wait or when
// a new service cancels it.
func (w *Watcher) queryChecks(ctx context.Context, q watch.Query) ([]*consulapi.HealthCheck, uint64, error) {
	index, wait := q.Index, q.Wait
	w.mu.Lock()
	services := slices.Sorted(maps.Keys(w.view.services))
	w.mu.Unlock()
	if len(services) > 0 {
		return w.consul.Checks(ctx, services, index, wait)
	}
	if index == 0 {
		return nil, 1, nil
	}
	select {
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	case <-time.After(wait):
		return nil, index, nil
	}
}

// feed runs one input's queries in a loop until ctx ends, storing each
// answer (or error) in the view and waking the watches. Its first query,
// the one after an error and any fresh read a watch asks for answer at
// once; the others block until a change. Every query has a deadline, so
// an input that hangs shows as an error, never as silence.
func feed[T any](ctx context.Context, w *Watcher, in *input, name string, query watch.Fetch[T], store func(*view, T)) {
	v := watch.NewView(watch.Options{
		Name: name, Wait: w.opts.Wait, Timeout: w.opts.CallTimeout, Pause: w.opts.Pause, Backoff: w.opts.Retry,
		StartOverOnError: true,
	})
	for {
		w.mu.Lock()
		if ctx.Err() != nil {
			w.mu.Unlock()
			return
		}
		sent := w.opts.Now()
		q := v.Next(in.asOf.Before(in.need))
		qctx, cancel := context.WithCancel(ctx)
		in.blocking, in.cancel, in.refreshing = q.Blocking(), cancel, false
		w.mu.Unlock()

		got, next, err := watch.Call(qctx, q, query)
		cancel()

		w.mu.Lock()
		if ctx.Err() != nil {
			// Stopped while querying: the view may already belong to the
			// feeds of a newer watch.
			w.mu.Unlock()
			return
		}
		refreshing := in.refreshing
		in.cancel = nil
		if err != nil && refreshing {
			// Cancelled for a fresh read, which follows at once.
			w.mu.Unlock()
			continue
		}
		if err != nil || in.err != nil {
			// Failing, or answering again: every watch's verdict may
			// change (unreachable, or no longer).
			w.wakeAllLocked()
		}
		if err != nil {
			in.err = err
		} else {
			in.err, in.asOf = nil, sent
			store(&w.view, got)
		}
		close(w.answered)
		w.answered = make(chan struct{})
		w.mu.Unlock()

		pause := v.Pause()
		if err != nil {
			pause = v.Failed(err)
		} else {
			v.Answered(q, next)
		}
		if !v.Sleep(ctx, pause) {
			return
		}
	}
}

// changedServices returns the services whose checks differ between two
// answers of Consul, in what a verdict reads of them.
func changedServices(old, next map[string][]*consulapi.HealthCheck) map[string]bool {
	type seen struct{ status, output string }
	changed := map[string]bool{}
	same := func(a, b []*consulapi.HealthCheck) bool {
		if len(a) != len(b) {
			return false
		}
		byID := make(map[string]seen, len(a))
		for _, c := range a {
			byID[c.Node+"\x00"+c.CheckID] = seen{c.Status, c.Output}
		}
		for _, c := range b {
			if s, ok := byID[c.Node+"\x00"+c.CheckID]; !ok || s != (seen{c.Status, c.Output}) {
				return false
			}
		}
		return true
	}
	for s, checks := range next {
		if !same(old[s], checks) {
			changed[s] = true
		}
	}
	for s := range old {
		if _, ok := next[s]; !ok {
			changed[s] = true
		}
	}
	return changed
}

// groupBy indexes an input's answer for the watches' lookups.
func groupBy[K comparable, T any](items []T, key func(T) K) map[K][]T {
	out := make(map[K][]T)
	for _, it := range items {
		k := key(it)
		out[k] = append(out[k], it)
	}
	return out
}

// oldest is the earliest of times, zero if any is zero (an input that has
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

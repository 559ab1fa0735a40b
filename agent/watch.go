package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/watch"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/go-viper/mapstructure/v2"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// JobWatcher is what the cluster watch runs on: Nomad's job events, and
// the job list as the safety net.
type JobWatcher interface {
	// WatchJobs lists every namespace's jobs with their meta once the
	// cluster's job index is past index, or when wait has passed without
	// a change, and returns the index to wait on next.
	WatchJobs(ctx context.Context, index uint64, wait time.Duration) ([]*api.JobListStub, uint64, error)
	// JobEvents streams the Job topic of every namespace from index on.
	// It returns once Nomad has answered; the channel closes when ctx ends
	// or after a batch with Err.
	JobEvents(ctx context.Context, index uint64) (<-chan *api.Events, error)
}

// clusterWatch turns changes to the cluster's jobs into sync cycles, so a
// hand edit is corrected in about a second instead of at the next interval.
//
// It lists the jobs once, then follows Nomad's event stream (topic Job,
// every namespace) from the list's index: each event carries one job that
// was written, so a change costs that job, not the whole list, and
// allocation churn costs nothing (a job summary moving is no job event).
// The list stays the level-triggered safety net: it is read again after
// any stream failure and every resync period (5 minutes), and each list
// replaces what the events built, so nothing is lost across a dropped
// connection, a restarted server (whose event buffer starts empty) or a
// stream that resumed past the end of Nomad's short event buffer. Both
// need only the read-job permission drover already has.
//
// What counts as a change is a different JobModifyIndex or Stop of a job
// git has or this instance owns, or the job going dead, coming back or
// being purged: what can change the job's plan (see the engine's plan
// memo). A status moving between pending and running as allocations start
// or are replaced, and other people's jobs, are ignored: during a big
// deploy they move on every allocation and would be a cycle each. Changes
// are debounced, so a burst of edits is one cycle. A cycle's own registers
// are not changes: the loop tells the watch the modify index each
// register produced (cycleDone), and a check that comes due while a cycle
// runs waits for that. A job that drifts on every register therefore
// cannot make the agent loop.
//
// A deploy of N jobs brings a few events for each, so an event must cost
// its job, not N: events update latest in place and keep pending, the
// jobs that differ from seen, one key at a time. A list, a check and a
// cycle's end may cost N: they come once a cycle or every few minutes.
type clusterWatch struct {
	lister   JobWatcher
	instance string
	trigger  func(reason string)
	log      zerolog.Logger
	// debounce is the quiet time after the last change before a cycle;
	// maxDelay caps the wait from the first change; minGap spaces queries.
	debounce, maxDelay, minGap time.Duration
	// resync is how long one stream is followed before the list is read
	// again.
	resync  time.Duration
	backoff func(attempt int) time.Duration

	mu sync.Mutex
	// wanted are the jobs git had at the last cycle that got as far as
	// syncing.
	wanted map[jobs.Key]bool
	// seen is the state of the relevant jobs drover has reconciled (or
	// triggered a cycle for); latest is every job as the last list and the
	// events since left it, relevant or not.
	seen, latest map[jobs.Key]jobState
	// pending are the relevant jobs whose latest state is not the one
	// seen, or that seen has and latest lost: what a check would act on.
	pending     map[jobs.Key]bool
	started     bool // seen holds a first list
	running     bool // a cycle is running
	deferred    bool // a check came due while it ran
	timer       *time.Timer
	firstChange time.Time
}

// jobState is what the watch compares of a job.
type jobState struct {
	index uint64
	stop  bool
	dead  bool
	owned bool
}

func newClusterWatch(lister JobWatcher, instance string, trigger func(string), opts Options) *clusterWatch {
	return &clusterWatch{
		lister:   lister,
		instance: instance,
		trigger:  trigger,
		log:      opts.Logger,
		debounce: opts.WatchDebounce,
		maxDelay: 2 * time.Second,
		// Shorter than debounce, so lists keep coming while a burst lasts
		// and each one can push the cycle back.
		minGap:  opts.WatchDebounce / 2,
		resync:  5 * time.Minute,
		backoff: opts.WatchBackoff,
	}
}

// listTimeout bounds the list and the stream's subscription, which both
// answer at once.
const listTimeout = time.Minute

// run lists and follows the job events until ctx is cancelled, backing off
// while the cluster fails; cycles still run on the interval meanwhile.
func (w *clusterWatch) run(ctx context.Context) {
	defer w.stopTimer()
	watch.Follow(ctx, watch.Options{
		Name: "cluster", Timeout: listTimeout, Lifetime: w.resync, Backoff: w.backoff, Logger: w.log,
	}, watch.Stream{
		// Each stream starts from a new list, which replaces what the
		// events built; the stream starts at the list's index: the writes
		// after it.
		Resume: func(ctx context.Context) (uint64, <-chan struct{}, error) {
			lctx, cancel := context.WithTimeout(ctx, listTimeout)
			defer cancel()
			stubs, index, err := w.lister.WatchJobs(lctx, 0, 0)
			if err != nil {
				return 0, nil, err
			}
			w.observe(stubs, time.Now())
			return index, nil, nil
		},
		Subscribe: w.lister.JobEvents,
		// A burst of events is one check: update debounces.
		Apply: func(_ context.Context, batch *api.Events) { w.applyEvents(batch.Events, time.Now()) },
	})
}

// applyEvents takes the jobs written in a batch of events.
func (w *clusterWatch) applyEvents(events []api.Event, now time.Time) {
	// Decoding is most of an event's cost: done before taking the lock.
	written := make([]jobWrite, 0, len(events))
	for i := range events {
		e := &events[i]
		if e.Topic != api.TopicJob {
			continue
		}
		job, deleted, err := jobOf(e)
		if err != nil || job == nil {
			continue
		}
		_, owned := jobs.OwnershipOf(job.Meta, w.instance)
		written = append(written, jobWrite{
			key:     jobs.Key{Namespace: job.Namespace, ID: job.ID},
			state:   jobState{index: job.JobModifyIndex, stop: job.Stop, dead: job.Status == "dead", owned: owned},
			deleted: deleted,
		})
	}
	if len(written) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := w.write(written)
	if w.baseline() {
		return
	}
	w.schedule(changed, now)
}

// jobWrite is one job event: the job's new state, or its purge.
type jobWrite struct {
	key     jobs.Key
	state   jobState
	deleted bool
}

// write applies a batch of job events to latest and pending, and reports
// whether it changed a relevant job: differs(latest, the latest before
// the batch), comparing only the jobs the batch names, since no other job
// moved. Needs w.mu held.
func (w *clusterWatch) write(written []jobWrite) bool {
	if w.latest == nil {
		w.latest = map[jobs.Key]jobState{}
	}
	// A job may be written twice in a batch; it changed if it ends unlike
	// it began.
	type was struct {
		state jobState
		in    bool
	}
	before := make(map[jobs.Key]was, len(written))
	for _, j := range written {
		if _, ok := before[j.key]; !ok {
			s, in := w.latest[j.key]
			before[j.key] = was{s, in}
		}
		if j.deleted {
			delete(w.latest, j.key)
		} else {
			w.latest[j.key] = j.state
		}
	}
	changed := false
	for k, b := range before {
		s, in := w.latest[k]
		if w.moved(k, s, in, b.state, b.in) {
			changed = true
		}
		w.mark(k)
	}
	return changed
}

// eventJob is what the watch compares of a job event's job.
type eventJob struct {
	ID, Namespace, Status string
	Stop                  bool
	JobModifyIndex        uint64
	Meta                  map[string]string
}

// jobOf decodes only the fields compared: the API client's Event.Job
// decodes the whole job by reflection, a few KB a job, on every status
// change of every job.
func jobOf(e *api.Event) (*eventJob, bool, error) {
	var out struct {
		Job     *eventJob
		Deleted bool
	}
	if err := mapstructure.Decode(e.Payload, &out); err != nil {
		return nil, false, fmt.Errorf("decode job event: %w", err)
	}
	return out.Job, out.Deleted, nil
}

// observe takes a new list and schedules a check if a relevant job differs
// from what was reconciled. The list replaces what the events built.
func (w *clusterWatch) observe(stubs []*api.JobListStub, now time.Time) {
	latest := make(map[jobs.Key]jobState, len(stubs))
	for _, s := range stubs {
		_, owned := jobs.OwnershipOf(s.Meta, w.instance)
		latest[jobs.Key{Namespace: s.Namespace, ID: s.ID}] = jobState{
			index: s.JobModifyIndex, stop: s.Stop, dead: s.Status == "dead", owned: owned,
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	previous := w.latest
	w.latest = latest
	if w.baseline() {
		return
	}
	w.recount()
	w.schedule(w.differs(latest, previous), now)
}

// baseline takes the first state of the jobs as reconciled, since the
// start cycle reconciles it, and reports whether it did. Needs w.mu held.
func (w *clusterWatch) baseline() bool {
	if w.started {
		return false
	}
	w.started = true
	w.seen = w.relevant(w.latest)
	w.pending = map[jobs.Key]bool{}
	return true
}

// schedule starts the debounce if a relevant job differs from what was
// reconciled, and pushes it back while they keep changing. Needs w.mu
// held.
func (w *clusterWatch) schedule(changed bool, now time.Time) {
	if len(w.pending) == 0 {
		return
	}
	switch {
	case w.timer == nil:
		w.firstChange = now
		w.timer = time.AfterFunc(w.debounce, w.due)
	case changed:
		// Still changing: wait for quiet, but not past maxDelay.
		delay := min(w.debounce, w.maxDelay-now.Sub(w.firstChange))
		w.timer.Reset(max(delay, 0))
	}
}

// due runs when the debounce timer fires.
func (w *clusterWatch) due() {
	w.mu.Lock()
	w.timer = nil
	if w.running {
		// The cycle in flight may be the cause; decide once it reports
		// what it registered.
		w.deferred = true
		w.mu.Unlock()
		return
	}
	fire := w.check()
	w.mu.Unlock()
	if fire {
		w.trigger("cluster")
	}
}

// check reports whether a cycle is needed, and if so takes the latest list
// as reconciled: the cycle lists the jobs after this moment, so it sees at
// least this state. Needs w.mu held.
func (w *clusterWatch) check() bool {
	if len(w.pending) == 0 {
		return false
	}
	w.seen = w.relevant(w.latest)
	clear(w.pending) // seen is now latest, for every relevant job
	return true
}

// cycleStarted and cycleDone bracket every cycle, from the loop.
func (w *clusterWatch) cycleStarted() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = true
}

// cycleDone records what the cycle reconciled: the jobs git has, and the
// modify index of every register it made, so those are not taken for
// changes.
func (w *clusterWatch) cycleDone(report *reconcile.Report) {
	w.mu.Lock()
	w.running = false
	if report != nil {
		w.wanted = make(map[jobs.Key]bool, len(report.Jobs))
		for _, r := range report.Jobs {
			if r.ID == "" {
				continue // a file that did not load names no job
			}
			w.wanted[r.Key] = true
			if r.Applied == nil {
				continue
			}
			st, ok := w.latest[r.Key]
			if !ok || st.index != r.Applied.ModifyIndex {
				st = jobState{index: r.Applied.ModifyIndex, owned: true}
			}
			if w.seen == nil {
				w.seen = map[jobs.Key]jobState{}
			}
			w.seen[r.Key] = st
		}
		// Which jobs are relevant and what was seen both moved.
		w.recount()
	}
	fire := false
	if w.deferred {
		w.deferred = false
		fire = w.check()
	}
	w.mu.Unlock()
	if fire {
		w.trigger("cluster")
	}
}

// relevant keeps the jobs git has or this instance owns. Needs w.mu held.
func (w *clusterWatch) relevant(all map[jobs.Key]jobState) map[jobs.Key]jobState {
	out := map[jobs.Key]jobState{}
	for k, s := range all {
		if s.owned || w.wanted[k] {
			out[k] = s
		}
	}
	return out
}

// differs reports whether a relevant job of now is not in base as it is,
// or a job of base is gone from now. Needs w.mu held.
func (w *clusterWatch) differs(now, base map[jobs.Key]jobState) bool {
	for k, s := range now {
		b, in := base[k]
		if w.moved(k, s, true, b, in) {
			return true
		}
	}
	for k, b := range base {
		if _, ok := now[k]; !ok && w.moved(k, jobState{}, false, b, true) {
			return true
		}
	}
	return false
}

// moved is differs for one job: k as it is now (if in now) against k as
// it was in base (if in base). A job in now counts if it is relevant now;
// one gone counts if it was relevant. Needs w.mu held.
func (w *clusterWatch) moved(k jobs.Key, now jobState, inNow bool, base jobState, inBase bool) bool {
	if inNow {
		// A job base lacks compares with the zero state, as a map lookup would.
		return (now.owned || w.wanted[k]) && now != base
	}
	return inBase && (base.owned || w.wanted[k])
}

// mark puts job k in pending or takes it out, after latest, seen or its
// relevance moved. Needs w.mu held.
func (w *clusterWatch) mark(k jobs.Key) {
	s, inLatest := w.latest[k]
	b, inSeen := w.seen[k]
	if w.moved(k, s, inLatest, b, inSeen) {
		if w.pending == nil {
			w.pending = map[jobs.Key]bool{}
		}
		w.pending[k] = true
	} else {
		delete(w.pending, k)
	}
}

// recount works pending out again over every job, after a list replaced
// latest or a cycle moved seen and which jobs are relevant. Needs w.mu
// held.
func (w *clusterWatch) recount() {
	w.pending = map[jobs.Key]bool{}
	for k := range w.latest {
		w.mark(k)
	}
	for k := range w.seen {
		if _, ok := w.latest[k]; !ok {
			w.mark(k)
		}
	}
}

func (w *clusterWatch) stopTimer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

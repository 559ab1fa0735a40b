// Package control holds the operator's brakes on an instance: suspensions
// (`drover suspend`, kept in Consul so they survive restarts and
// failover) and deny and allow windows (flags). A cycle asks it, after the
// rollout pins, which jobs to hold: a held job is still planned and
// reported, never registered, and a cycle that holds the whole instance
// prunes nothing.
package control

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/watch"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
	"github.com/rs/zerolog"
)

// Blocking reads a key with a Consul blocking query (*consul.Client).
type Blocking interface {
	// GetWait returns the key once its index is past index (at once when
	// index is 0) or wait passes, with the index to wait on next; nil when
	// the key is absent.
	GetWait(ctx context.Context, key string, index uint64, wait time.Duration) (*state.Pair, uint64, error)
}

// Recorder is told whether the whole instance is suspended
// (*metrics.Metrics).
type Recorder interface {
	Suspended(on bool)
}

// Options configure Controls; the zero value holds nothing.
type Options struct {
	Windows Windows
	// RollbackWhileSuspended lets a rollback (the last good spec put back
	// after a failed rollout) through a suspension.
	RollbackWhileSuspended bool
	// HoldRollbacksInWindows holds rollbacks too in a deny window or
	// outside the allow windows; by default they go through, since they
	// put back what ran before.
	HoldRollbacksInWindows bool
	// Namespace is where a job named without one is (NOMAD_NAMESPACE);
	// "" is "default".
	Namespace string
	// Now is the clock; nil is time.Now.
	Now      func() time.Time
	Recorder Recorder
	Logger   zerolog.Logger
}

// Controls decides, at each cycle, which jobs are held.
type Controls struct {
	store *Store
	watch Blocking
	opts  Options

	mu sync.Mutex
	// seen is what the last cycle read, to log changes once; read says
	// whether there was a read at all.
	seen Suspensions
	read bool
}

// New returns the controls. store nil keeps no suspensions (windows
// only); watch nil does not watch the suspensions between cycles.
func New(store *Store, watch Blocking, opts Options) *Controls {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Controls{store: store, watch: watch, opts: opts}
}

// Hold reads the suspensions and judges the windows, and returns set with
// the jobs that must not be registered now held, and what must not be
// pruned. An error means the suspensions could not be read: acting on
// silence could deploy a suspended job.
func (c *Controls) Hold(ctx context.Context, set *jobs.Set) (*jobs.Set, error) {
	var sus Suspensions
	if c.store != nil {
		s, _, err := c.store.Read(ctx)
		if err != nil {
			return set, err
		}
		sus = s
		c.observe(s)
	}
	now := c.opts.Now()
	verdict := c.opts.Windows.At(now)
	if sus.Empty() && verdict.Held == "" {
		return set, nil
	}
	out := *set
	out.Files = make([]*jobs.File, len(set.Files))
	out.Keep = map[jobs.Key]string{}
	for k, v := range set.Keep {
		out.Keep[k] = v
	}
	for k, s := range sus.Jobs {
		if key, err := ParseJob(k, ""); err == nil {
			out.Keep[key] = "job " + s.String()
		}
	}
	switch {
	case sus.Instance != nil:
		out.NoPrune = "instance " + sus.Instance.String()
	case verdict.Held != "":
		out.NoPrune = verdict.Held
	}
	for i, f := range set.Files {
		out.Files[i] = f
		if f.Err != nil {
			continue
		}
		if why := c.holds(f, sus, verdict); why != "" {
			held := *f
			// The operator's reason first: it is the one people act on.
			held.Hold = why
			if f.Hold != "" {
				held.Hold += "; " + f.Hold
			}
			out.Files[i] = &held
		}
	}
	if out.NoPrune != "" {
		ev := c.opts.Logger.Info().Str("event", "sync.held").Str("reason", out.NoPrune)
		if !verdict.Until.IsZero() && sus.Instance == nil {
			ev = ev.Time("until", verdict.Until)
		}
		ev.Msg("held: nothing new is applied and nothing is pruned in this cycle")
	}
	return &out, nil
}

// holds says why f must not be registered now, "" when it may be.
func (c *Controls) holds(f *jobs.File, sus Suspensions, verdict Verdict) string {
	// Pin marks a rollback by the commit of the last good spec it put
	// back.
	rollback := f.Commit != ""
	if s, ok := sus.Of(f.Key()); ok && !(rollback && c.opts.RollbackWhileSuspended) {
		return s.String()
	}
	if verdict.Held != "" && !(rollback && !c.opts.HoldRollbacksInWindows) {
		return verdict.Held
	}
	return ""
}

// observe logs what changed in the suspensions since the last read.
func (c *Controls) observe(s Suspensions) {
	c.mu.Lock()
	prev, first := c.seen, !c.read
	c.seen, c.read = s, true
	c.mu.Unlock()
	if c.opts.Recorder != nil {
		c.opts.Recorder.Suspended(s.Instance != nil)
	}
	log := c.opts.Logger
	suspended := func(scope string, sus Suspension) {
		ev := log.Warn().Str("event", "control.suspended").Str("scope", scope).Str("by", sus.By).
			Time("at", sus.At).Str("reason", sus.Reason)
		if first {
			ev = ev.Bool("already", true)
		}
		ev.Msg("suspended: planned and reported, not applied")
	}
	resumed := func(scope string, sus Suspension) {
		log.Info().Str("event", "control.resumed").Str("scope", scope).Str("suspended_by", sus.By).
			Msg("resumed: applied again")
	}
	switch {
	case s.Instance != nil && (prev.Instance == nil || *prev.Instance != *s.Instance):
		suspended("instance", *s.Instance)
	case s.Instance == nil && prev.Instance != nil:
		resumed("instance", *prev.Instance)
	}
	for _, k := range s.Keys() {
		if old, ok := prev.Jobs[k]; !ok || old != s.Jobs[k] {
			suspended(k, s.Jobs[k])
		}
	}
	for _, k := range prev.Keys() {
		if _, ok := s.Jobs[k]; !ok {
			resumed(k, prev.Jobs[k])
		}
	}
}

// Watch triggers a cycle as soon as the suspensions change, so a resume
// takes effect at once rather than at the next interval. It returns when
// ctx ends.
func (c *Controls) Watch(ctx context.Context, trigger func(reason string), retry func(attempt int) time.Duration) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.watchWindows(ctx, trigger) })
	if c.watch == nil || c.store == nil {
		return
	}
	v := watch.NewView(watch.Options{
		Name: "suspensions", Wait: 5 * time.Minute, Timeout: c.store.timeout, Backoff: retry, Logger: c.opts.Logger,
	})
	first, seen := true, uint64(0)
	watch.Run(ctx, v, func(ctx context.Context, q watch.Query) (*state.Pair, uint64, error) {
		return c.watch.GetWait(ctx, c.store.key, q.Index, q.Wait)
	}, func(p *state.Pair, _ watch.Query) {
		// The index of an absent key moves with every write anywhere in
		// the KV store: only the key's own modify index says it changed.
		var mod uint64
		if p != nil {
			mod = p.ModifyIndex
		}
		if !first && mod != seen {
			trigger("suspensions changed")
		}
		first, seen = false, mod
	})
}

// watchWindows starts a cycle as soon as the windows stop holding, so a
// deploy held by a freeze goes out when it ends, not at the next interval
// or schedule. It only computes: no I/O.
func (c *Controls) watchWindows(ctx context.Context, trigger func(reason string)) {
	if c.opts.Windows.Empty() {
		return
	}
	wasHeld := false
	for {
		v := c.opts.Windows.At(c.opts.Now())
		if wasHeld && v.Held == "" {
			trigger("window closed")
		}
		wasHeld = v.Held != ""
		// Looked at again every minute at most: a window may open
		// meanwhile, and the clock may jump.
		wait := time.Minute
		if d := v.Until.Sub(c.opts.Now()); !v.Until.IsZero() && d < wait {
			wait = max(d, time.Millisecond)
		}
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
}

// Status is what /v1/status says of the controls.
type Status struct {
	// Suspensions are as the last cycle read them.
	Suspensions Suspensions `json:"suspensions"`
	// Held is why nothing new is applied now because of a window, with
	// until when.
	Held  string     `json:"held,omitempty"`
	Until *time.Time `json:"until,omitempty"`
	// Windows are the deny and allow windows, each with whether it is
	// open and when it next opens.
	Windows []WindowStatus `json:"windows,omitempty"`
}

// WindowStatus is one window in /v1/status.
type WindowStatus struct {
	Kind string `json:"kind"`
	Spec string `json:"spec"`
	Open bool   `json:"open"`
	// Ends is when the open window closes; NextOpen when it next opens.
	Ends     *time.Time `json:"ends,omitempty"`
	NextOpen *time.Time `json:"next_open,omitempty"`
}

// Status describes the controls now.
func (c *Controls) Status() Status {
	c.mu.Lock()
	st := Status{Suspensions: c.seen}
	c.mu.Unlock()
	now := c.opts.Now()
	v := c.opts.Windows.At(now)
	st.Held = v.Held
	if !v.Until.IsZero() {
		st.Until = timePtr(v.Until)
	}
	add := func(kind string, ws []Window) {
		for _, w := range ws {
			ws := WindowStatus{Kind: kind, Spec: w.Spec}
			if end, ok := w.openAt(now); ok {
				ws.Open, ws.Ends = true, timePtr(end)
			}
			if n := w.schedule.Next(now); !n.IsZero() {
				ws.NextOpen = timePtr(n)
			}
			st.Windows = append(st.Windows, ws)
		}
	}
	add("deny", c.opts.Windows.Deny)
	add("allow", c.opts.Windows.Allow)
	return st
}

func timePtr(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

// Suspend and Resume, for the HTTP API: jobs as "name" or
// "namespace/name", none for the whole instance.
func (c *Controls) Suspend(ctx context.Context, names []string, s Suspension) (Suspensions, error) {
	if c.store == nil {
		return Suspensions{}, fmt.Errorf("suspensions need Consul state")
	}
	keys, err := ParseJobs(names, c.opts.Namespace)
	if err != nil {
		return Suspensions{}, err
	}
	return c.store.Suspend(ctx, keys, s)
}

// Resume lifts suspensions; see Suspend.
func (c *Controls) Resume(ctx context.Context, names []string) (Suspensions, error) {
	if c.store == nil {
		return Suspensions{}, fmt.Errorf("suspensions need Consul state")
	}
	keys, err := ParseJobs(names, c.opts.Namespace)
	if err != nil {
		return Suspensions{}, err
	}
	return c.store.Resume(ctx, keys)
}

// ParseJobs reads jobs as ParseJob does.
func ParseJobs(names []string, ns string) ([]jobs.Key, error) {
	keys := make([]jobs.Key, 0, len(names))
	for _, n := range names {
		k, err := ParseJob(n, ns)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Package cycle runs drover's reconcile cycle, fetch → load → state → pin →
// control → sync → record, the one way every command runs it: `plan`, `apply`,
// `apply --wait` and the agent's loop. Every step and every call in it has
// a deadline; the runner tells which step a cycle is in and when it last
// made progress, so /healthz can tell a hung cycle from a long one; and a
// failed cycle carries a Kind that decides what its caller does next.
package cycle

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/failure"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/state"
	"github.com/rs/zerolog"
)

// Step names a part of the cycle.
type Step string

// The steps of a cycle, in order.
const (
	StepFetch Step = "fetch"
	StepLoad  Step = "load"
	StepState Step = "state"
	StepPin   Step = "pin"
	// StepControl holds what the operator's suspensions and windows say
	// must not be applied now.
	StepControl Step = "control"
	StepSync    Step = "sync"
	StepRecord  Step = "record"
)

// Source fetches the newest revision of what drover follows.
type Source interface {
	Fetch(ctx context.Context) (jobs.Tree, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (jobs.Tree, error)

// Fetch calls f.
func (f SourceFunc) Fetch(ctx context.Context) (jobs.Tree, error) { return f(ctx) }

// Loader turns a tree into jobs (*jobs.Loader).
type Loader interface {
	Load(ctx context.Context, tree jobs.Tree) (*jobs.Set, error)
}

// Engine reconciles the cluster with a set of jobs (*reconcile.Engine).
type Engine interface {
	Sync(ctx context.Context, set *jobs.Set) (*reconcile.Report, error)
}

// Rollouts is the rollout manager as a cycle uses it (*rollout.Manager).
type Rollouts interface {
	// Prepare brings the rollout state up to date; an error means it was
	// never read, and acting without it could re-apply a quarantined spec.
	Prepare(ctx context.Context) error
	// Pin swaps quarantined specs for their last good ones and holds the
	// jobs whose rollout is being watched.
	Pin(ctx context.Context, set *jobs.Set) *jobs.Set
	// Record starts watching what the cycle registered.
	Record(ctx context.Context, report *reconcile.Report)
	// Wait blocks until no rollout is watched.
	Wait(ctx context.Context) error
	// Close stops every watch; rollouts in flight stay in flight in the
	// state, for the next process to resume.
	Close()
}

// Controls are the operator's brakes (*control.Controls).
type Controls interface {
	// Hold returns set with the jobs that must not be registered now
	// held, and what must not be pruned; an error means the suspensions
	// could not be read.
	Hold(ctx context.Context, set *jobs.Set) (*jobs.Set, error)
}

// Parts are what a runner runs. Rollouts may be nil (no state, no
// rollouts: a plan without Consul).
type Parts struct {
	// Sources are what the cycle follows: the one source the flags make,
	// which has no name, or a config file's named ones.
	Sources  []NamedSource
	Engine   Engine
	Rollouts Rollouts
	// Controls may be nil: nothing is held but what the rollouts hold.
	Controls Controls
	// Progress is touched by the loader and the engine after each call
	// they complete; nil makes a new one.
	Progress *Progress
}

// Options configure a Runner; zero values are the flags' defaults.
type Options struct {
	// GitTimeout bounds the fetch step; default 2m.
	GitTimeout time.Duration
	// NomadTimeout bounds each Nomad call (the loader and the engine apply
	// it per call); here it is how long load, pin and sync may go without
	// progress before the cycle counts as stuck. Default
	// reconcile.DefaultCallTimeout.
	NomadTimeout time.Duration
	// ConsulTimeout bounds each Consul call; here, the budget of the
	// state and record steps. Default state.DefaultCallTimeout.
	ConsulTimeout time.Duration
	// StuckGrace is added to a step's call timeout before a cycle without
	// progress counts as stuck: a call at its deadline is about to fail,
	// not hung. Default 5s.
	StuckGrace time.Duration
	// StateOptional lets a cycle go on without the rollout state, with a
	// warning: a plan, which registers nothing, still says something
	// useful when Consul is down.
	StateOptional bool
	// Metrics times the fetch; nil records nothing.
	Metrics *metrics.Metrics
	Logger  zerolog.Logger
	// Emitter writes the cycle's events to the log and the bus (default:
	// to Logger only).
	Emitter *events.Emitter
}

// DefaultGitTimeout is Options.GitTimeout's default, shared with the
// command line. The Nomad and Consul timeouts' defaults are those of the
// packages that make the calls: reconcile.DefaultCallTimeout and
// state.DefaultCallTimeout.
const DefaultGitTimeout = 2 * time.Minute

func (o Options) withDefaults() Options {
	if o.Emitter == nil {
		o.Emitter = events.NewEmitter(o.Logger, nil)
	}
	if o.GitTimeout <= 0 {
		o.GitTimeout = DefaultGitTimeout
	}
	if o.NomadTimeout <= 0 {
		o.NomadTimeout = reconcile.DefaultCallTimeout
	}
	if o.ConsulTimeout <= 0 {
		o.ConsulTimeout = state.DefaultCallTimeout
	}
	if o.StuckGrace <= 0 {
		o.StuckGrace = 5 * time.Second
	}
	return o
}

// Runner runs cycles, one at a time.
type Runner struct {
	parts    Parts
	opts     Options
	progress *Progress
	sources  *Sources
	// requested is set by Request: a rollback asks for another cycle.
	requested atomic.Bool

	// one serialises cycles: two never overlap.
	one sync.Mutex
	// lastSet is the set the last load returned, owned by the cycle.
	lastSet *jobs.Set
	mu      sync.Mutex
	cur     current
}

// current is the cycle in flight, for Stuck.
type current struct {
	running   bool
	step      Step
	stepStart time.Time
}

// New returns a runner over parts.
func New(parts Parts, opts Options) *Runner {
	if parts.Progress == nil {
		parts.Progress = &Progress{}
	}
	opts = opts.withDefaults()
	return &Runner{parts: parts, opts: opts, progress: parts.Progress, sources: newSources(parts.Sources, opts.Emitter)}
}

// Request asks for another cycle once the current one is done; Settle
// runs it. The agent has its own triggers and does not use this.
func (r *Runner) Request(string) { r.requested.Store(true) }

// Run runs one cycle. The report is nil when the cycle stopped before
// syncing; a failure says where and why it stopped. A cycle interrupted by
// ctx still records the registers it made.
func (r *Runner) Run(ctx context.Context) (*reconcile.Report, *Failure) {
	r.one.Lock()
	defer r.one.Unlock()
	defer r.enter("")

	r.enter(StepFetch)
	fetched, err := r.fetch(ctx)
	if err != nil {
		return nil, classify(ctx, StepFetch, err)
	}
	r.enter(StepLoad)
	set, err := r.sources.Load(ctx, fetched)
	if err != nil {
		return nil, classify(ctx, StepLoad, err)
	}
	if set != r.lastSet {
		// A load of the same commit returns the same set: say it once.
		r.lastSet = set
		for _, s := range set.Skipped {
			r.opts.Emitter.Emit(events.JobSkipped{Path: s.Path, Reason: s.Reason, Commit: set.Revision},
				"job file not read")
		}
	}
	ro, controls := r.parts.Rollouts, r.parts.Controls
	if ro != nil {
		r.enter(StepState)
		if err := ro.Prepare(ctx); err != nil {
			if !r.opts.StateOptional {
				return nil, classify(ctx, StepState, err)
			}
			r.opts.Emitter.Emit(events.StateError{Error: err.Error()}, "rollout state unreadable; this plan ignores quarantines and suspensions")
			ro = nil
			// The suspensions live beside the state: asking again would
			// only wait out the same Consul.
			controls = nil
		}
	}
	if ro != nil {
		r.enter(StepPin)
		set = ro.Pin(ctx, set)
	}
	if controls != nil {
		r.enter(StepControl)
		held, err := controls.Hold(ctx, set)
		switch {
		case err == nil:
			set = held
		case !r.opts.StateOptional:
			return nil, classify(ctx, StepControl, err)
		default:
			r.opts.Emitter.Emit(events.StateError{Error: err.Error()}, "suspensions unreadable; this plan ignores them")
		}
	}
	r.enter(StepSync)
	report, err := r.parts.Engine.Sync(ctx, set)
	if ro != nil && report != nil {
		r.enter(StepRecord)
		// The registers happened: their rollouts are recorded even when
		// shutdown interrupted the cycle, within the record budget.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.budget(StepRecord))
		ro.Record(rctx, report)
		cancel()
	}
	if err != nil {
		return report, classify(ctx, StepSync, err)
	}
	if err := stallIn(report); err != nil {
		return report, classify(ctx, StepSync, err)
	}
	return report, nil
}

// stallIn is the first job or orphan error that stalls (a token lacking
// a capability in the job's namespace), else nil. Such an error is no
// job's fault and no retry clears it: the cycle stalls with its reason,
// naming what to fix once, instead of every cycle failing each job of
// the namespace anew while the agent looks healthy. The jobs keep their
// errors in the report.
func stallIn(report *reconcile.Report) error {
	if report == nil {
		return nil
	}
	for _, j := range report.Jobs {
		if _, ok := failure.StallOf(j.Err); ok {
			return j.Err
		}
	}
	for _, o := range report.Orphans {
		if _, ok := failure.StallOf(o.Err); ok {
			return o.Err
		}
	}
	return nil
}

func (r *Runner) fetch(ctx context.Context) (*Fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.GitTimeout)
	defer cancel()
	start := time.Now()
	fetched, err := r.sources.Fetch(ctx)
	r.opts.Metrics.FetchFinished(err != nil, time.Since(start))
	return fetched, err
}

// Settle waits for every rollout to reach a verdict, running the cycles
// that failed rollouts ask for (their rollbacks) and waiting for those in
// turn: `apply --wait`.
func (r *Runner) Settle(ctx context.Context) (*reconcile.Report, *Failure) {
	ro := r.parts.Rollouts
	if ro == nil {
		return nil, nil
	}
	var last *reconcile.Report
	for {
		if err := ro.Wait(ctx); err != nil {
			return last, classify(ctx, StepRecord, err)
		}
		if !r.requested.Swap(false) {
			return last, nil
		}
		report, f := r.Run(ctx)
		if report != nil {
			last = report
		}
		if f != nil {
			return last, f
		}
	}
}

// Close stops the rollout watches.
func (r *Runner) Close() {
	if r.parts.Rollouts != nil {
		r.parts.Rollouts.Close()
	}
}

func (r *Runner) enter(s Step) {
	now := time.Now()
	r.mu.Lock()
	r.cur = current{running: s != "", step: s, stepStart: now}
	r.mu.Unlock()
	r.progress.Touch()
}

// budget is how long a step may go without progress.
func (r *Runner) budget(s Step) time.Duration {
	grace := r.opts.StuckGrace
	switch s {
	case StepFetch:
		return r.opts.GitTimeout + grace
	case StepState:
		// A read of the state, then the writes earlier cycles left.
		return 2*r.opts.ConsulTimeout + grace
	case StepRecord, StepControl:
		return r.opts.ConsulTimeout + grace
	}
	return r.opts.NomadTimeout + grace
}

// Stuck reports whether the cycle in flight has gone longer than its
// step's budget without progress, and if so in which step, for how long,
// and what the budget is.
func (r *Runner) Stuck(now time.Time) (step Step, idle, budget time.Duration, stuck bool) {
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	if !cur.running {
		return "", 0, 0, false
	}
	last := r.progress.Last()
	if last.Before(cur.stepStart) {
		last = cur.stepStart
	}
	idle, budget = now.Sub(last), r.budget(cur.step)
	return cur.step, idle, budget, idle > budget
}

// Step returns the step the cycle in flight is in, "" when none runs.
func (r *Runner) Step() Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.step
}

// Progress is when a cycle last completed a call. The loader and the
// engine touch it; the runner reads it to tell a long cycle from a hung
// one.
type Progress struct {
	last atomic.Int64
}

// Touch records progress now. Safe on a nil Progress.
func (p *Progress) Touch() {
	if p != nil {
		p.last.Store(time.Now().UnixNano())
	}
}

// Last is when progress was last made.
func (p *Progress) Last() time.Time {
	if p == nil {
		return time.Time{}
	}
	return time.Unix(0, p.last.Load())
}

// IsInterrupted reports whether f is a shutdown, not a failure.
func IsInterrupted(f *Failure) bool {
	return f != nil && (f.Kind == Interrupted || errors.Is(f.Err, context.Canceled))
}

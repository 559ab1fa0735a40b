// Package rollout carries a register through to a verdict: it watches every
// rollout drover starts, records the last good commit of each job once a
// rollout is healthy through its bake window, quarantines a spec whose
// rollout failed, and has the next cycle put the last good spec back. Its
// memory is a state.Ledger, so a restarted agent resumes the watches in
// flight and keeps its quarantines.
package rollout

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/drover-dev/drover/health"
	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/state"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// Specs reads a job file as it was at an older commit.
type Specs interface {
	JobAt(ctx context.Context, commit, path string) (*jobs.File, error)
}

// SourceSpecs is Specs over many sources (--config): the spec is read
// from the named source's repo, with that source's loader settings. A
// Specs that is not one reads every spec from the single source.
type SourceSpecs interface {
	JobFrom(ctx context.Context, source, commit, path string) (*jobs.File, error)
}

// SpecsFunc adapts a function to Specs.
type SpecsFunc func(ctx context.Context, commit, path string) (*jobs.File, error)

// JobAt calls f.
func (f SpecsFunc) JobAt(ctx context.Context, commit, path string) (*jobs.File, error) {
	return f(ctx, commit, path)
}

// Jobs reads a registered job, for a rollout resumed after a restart.
type Jobs interface {
	Job(ctx context.Context, namespace, id string) (*api.Job, error)
}

// Recorder counts verdicts, for metrics. Its methods must be safe to call
// from several goroutines.
type Recorder interface {
	RolloutFinished(result string)
	RollbackFinished(result string)
}

// Options configure a Manager.
type Options struct {
	Policy health.Policy
	// NoRollback reports failed rollouts and quarantines their spec, but
	// never registers the last good spec in its place.
	NoRollback bool
	// Trigger asks for a cycle at once: the one that applies a rollback,
	// or the one that registers the jobs waiting for a dependency whose
	// rollout just ended healthy.
	Trigger func(reason string)
	// Resume makes Prepare resume the watches a previous agent left in
	// flight; for the agent, not for a one-shot apply.
	Resume bool
	// RecordOnly records each register's rollout in the state, in flight,
	// for the agent to watch, and watches nothing here: `apply` without
	// --wait exits right after, and a watch would only read Nomad.
	RecordOnly bool
	// Recorder, when set, counts verdicts.
	Recorder Recorder
	Logger   zerolog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NomadTimeout bounds the read of a job whose watch is resumed;
	// default reconcile.DefaultCallTimeout.
	NomadTimeout time.Duration
	// Retry is the delay before the n-th retry of a resume that failed;
	// default doubling from 1s to 30s.
	Retry func(attempt int) time.Duration
}

// Manager owns the rollout watches: one goroutine each, started by Record
// and stopped by Close.
type Manager struct {
	ledger  *state.Ledger
	watcher *health.Watcher
	jobs    Jobs
	specs   Specs
	opts    Options
	log     zerolog.Logger

	// base is the context every watch runs under; cancelled by Close.
	base   context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	watches map[jobs.Key]*watch
	// pins are this cycle's rollbacks and holds, by job, set by Pin and
	// read by Record and Status.
	pins map[jobs.Key]pin
	// needed are the jobs the last pinned set has dependents waiting on.
	needed map[jobs.Key]bool
	// specCache holds the last good specs the previous Pin read, by
	// commit and path.
	specCache map[string]*jobs.File
	resumed   bool
	// problems are the unusable state keys last reported, with why.
	problems map[string]string
	// unrollable is, by job, why its rollback could not be made, so it is
	// logged and counted once.
	unrollable map[jobs.Key]string
	// outcomes are the verdicts reached since the manager started.
	outcomes []Outcome
	wg       sync.WaitGroup
}

// watch is one rollout being followed.
type watch struct {
	rollout state.Rollout
	cancel  context.CancelFunc
	done    chan struct{}
	// latest is the newest verdict, for status.
	latest health.Verdict
}

// pin is what Pin did to a job's file this cycle.
type pin struct {
	quarantine state.Quarantine
	// to is the last good commit put back; "" when the job is held.
	to   string
	hold string
	// failed says why the rollback to the last good commit could not be
	// made.
	failed string
}

// Outcome is the verdict of one rollout.
type Outcome struct {
	Key     jobs.Key
	Rollout state.Rollout
}

// New returns a manager whose watches run under ctx, until it is cancelled
// or Close is called; specs may be nil when there is no git history to roll
// back to (a plain directory).
func New(ctx context.Context, ledger *state.Ledger, watcher *health.Watcher, jobsAPI Jobs, specs Specs, opts Options) *Manager {
	if opts.Policy == (health.Policy{}) {
		opts.Policy = health.DefaultPolicy()
	}
	if opts.Trigger == nil {
		opts.Trigger = func(string) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NomadTimeout <= 0 {
		opts.NomadTimeout = reconcile.DefaultCallTimeout
	}
	if opts.Retry == nil {
		opts.Retry = backoff.Exponential(time.Second, 30*time.Second, nil)
	}
	base, cancel := context.WithCancel(ctx)
	return &Manager{
		ledger: ledger, watcher: watcher, jobs: jobsAPI, specs: specs, opts: opts, log: opts.Logger,
		base: base, cancel: cancel, watches: map[jobs.Key]*watch{}, pins: map[jobs.Key]pin{},
		unrollable: map[jobs.Key]string{},
	}
}

// Close stops every watch and waits for them. A watch stopped this way
// leaves its rollout in flight in the ledger, to be resumed by the next
// agent.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// Prepare reads the ledger (once) and writes what earlier writes could not.
// It fails only while the ledger has never been read: acting without it
// could re-apply a quarantined spec. On the first success it resumes the
// rollouts a previous agent left in flight.
func (m *Manager) Prepare(ctx context.Context) error {
	if err := m.ledger.Refresh(ctx); err != nil {
		if !m.ledger.Loaded() {
			return err
		}
		m.log.Warn().Str("event", "state.error").Err(err).Msg("state not written or not re-read; kept in memory and tried again next cycle")
	}
	m.reportProblems()
	m.mu.Lock()
	resume := m.opts.Resume && !m.resumed
	m.resumed = true
	m.mu.Unlock()
	if resume {
		m.resume()
	}
	return nil
}

// resume restarts the watch of every rollout left in flight. Each watch is
// live at once, so Pin holds its job, and reads the job in its own
// goroutine, retrying until Nomad answers: a Nomad that is down or hung at
// start-up neither holds up the cycle nor drops the watch.
func (m *Manager) resume() {
	for _, j := range m.ledger.All() {
		r := j.Rollout
		if !r.InFlight() {
			continue
		}
		// Health seen before the restart is not remembered: it must be
		// proven again, so give the deadline at least that long.
		deadline := r.Started.Add(m.opts.Policy.Deadline)
		if floor := m.opts.Now().Add(m.opts.Policy.MinHealthy + 5*time.Second); deadline.Before(floor) {
			deadline = floor
		}
		m.logger(j.Key(), *r).Info().Str("event", "rollout.resumed").Str("kind", string(r.Kind)).
			Str("phase", string(r.Phase)).Time("deadline", deadline).Msg("watching a rollout a previous agent started")
		ro := *r
		ro.Phase = state.Watching
		k := j.Key()
		m.start(k, ro, deadline, func(ctx context.Context) (health.Target, error) { return m.targetOf(ctx, k, ro) })
	}
}

// errJobGone ends a resumed watch whose job no longer exists.
var errJobGone = errors.New("the job no longer exists in Nomad")

// targetOf reads the job of a resumed rollout until Nomad answers.
func (m *Manager) targetOf(ctx context.Context, k jobs.Key, r state.Rollout) (health.Target, error) {
	for attempt := 1; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, m.opts.NomadTimeout)
		job, err := m.jobs.Job(callCtx, k.Namespace, k.ID)
		cancel()
		switch {
		case err == nil:
			t := health.TargetOf(job)
			t.Version = r.Version
			return t, nil
		case nomad.IsNotFound(err):
			return health.Target{}, errJobGone
		case ctx.Err() != nil:
			return health.Target{}, ctx.Err()
		}
		retry := m.opts.Retry(attempt)
		m.logger(k, r).Warn().Str("event", "rollout.error").Err(err).Str("retry_in", retry.Round(time.Millisecond).String()).
			Msg("cannot read the job whose rollout is resumed; retrying")
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return health.Target{}, ctx.Err()
		case <-t.C:
		}
	}
}

// ConflictLogger logs each change someone else made to a state key while
// drover had its own change to write: for state.LedgerOptions.OnConflict.
func ConflictLogger(log zerolog.Logger) func(state.Conflict) {
	return func(c state.Conflict) {
		log.Warn().Str("event", "state.conflict").Str("key", c.Key).Str("job", c.Job.ID).Str("namespace", c.Job.Namespace).
			Bool("deleted", c.Deleted).Int("reapplied", c.Reapplied).
			Msg("state key changed in Consul by someone else: Consul's copy wins, drover's unwritten changes are applied on top")
	}
}

// reportProblems logs each state key that cannot be used, once per
// problem: the job it names is held until the key is fixed or deleted.
func (m *Manager) reportProblems() {
	seen := map[string]string{}
	for _, p := range m.ledger.Problems() {
		why := p.Err.Error()
		seen[p.Key] = why
		m.mu.Lock()
		known := m.problems[p.Key] == why
		m.mu.Unlock()
		if known {
			continue
		}
		ev := m.log.Error().Str("event", "state.invalid").Str("key", p.Key).Err(p.Err)
		if p.Job != nil {
			ev = ev.Str("job", p.Job.ID).Str("namespace", p.Job.Namespace)
		}
		ev.Msg("state key unusable: its job is held until the key is fixed or deleted")
	}
	m.mu.Lock()
	m.problems = seen
	m.mu.Unlock()
}

func (m *Manager) logger(k jobs.Key, r state.Rollout) *zerolog.Logger {
	c := m.log.With().Str("job", k.ID).Str("namespace", k.Namespace).Str("commit", r.Commit).
		Uint64("version", r.Version)
	if r.Source != "" {
		c = c.Str("source", r.Source)
	}
	l := c.Logger()
	return &l
}

// Wait blocks until no rollout is being watched; Outcomes tells how they
// ended.
func (m *Manager) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Outcomes returns every verdict reached since the manager started.
func (m *Manager) Outcomes() []Outcome {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Outcome(nil), m.outcomes...)
}

func (m *Manager) now() time.Time { return m.opts.Now().UTC() }

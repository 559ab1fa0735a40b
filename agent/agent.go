// Package agent runs drover as a long-lived process: one loop goroutine owns
// the sync cycle (fetch → load → sync), triggered by an interval or cron
// schedule and by HTTP, with exponential backoff while git or Nomad fail,
// and an HTTP server for health, status and manual syncs.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	gosync "sync"
	"time"

	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/rollout"
	dsync "github.com/drover-dev/drover/sync"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
)

// Cycles runs reconcile cycles: *cycle.Runner.
type Cycles interface {
	// Run runs one cycle; a failure says where and why it stopped.
	Run(ctx context.Context) (*dsync.Report, *cycle.Failure)
	// Stuck reports whether the cycle in flight has gone longer than its
	// step's budget without progress.
	Stuck(now time.Time) (step cycle.Step, idle, budget time.Duration, stuck bool)
	// Close stops what the cycles left running (rollout watches).
	Close()
}

// RolloutStatus is each job's rollout state for /v1/status:
// *rollout.Manager.
type RolloutStatus interface {
	Status() []rollout.JobStatus
}

// Options configure an Agent.
type Options struct {
	// Interval between cycles; default 1m. Ignored when Schedule is set.
	Interval time.Duration
	// Schedule is a cron expression (robfig/cron, 5 fields or
	// descriptors such as "@every 30s").
	Schedule string
	// Listen is the HTTP address; default 127.0.0.1:8680. "-" disables HTTP.
	Listen string
	// Backoff is the retry delay after the n-th consecutive failed cycle;
	// default backoff.Exponential(5s, 5m).
	Backoff func(attempt int) time.Duration
	// StalledRetry is the time between cycles while the agent is stalled
	// (a ref that does not exist, refused credentials, a missing
	// permission): retrying sooner cannot help, and a trigger (a push, POST
	// /v1/sync) still runs a cycle at once. Default 5m.
	StalledRetry time.Duration
	// Rollouts, when set, shows each job's rollout state in /v1/status.
	Rollouts RolloutStatus
	// Instance is the drover instance whose jobs the cluster watch
	// follows; default "drover".
	Instance string
	// Watch, when set, watches the cluster's jobs and starts a cycle as
	// soon as a job git has or this instance owns changes (a hand edit, a
	// scale, a stop), instead of waiting for the interval or schedule,
	// which stay as the safety net. Nil turns the watch off.
	Watch JobWatcher
	// WatchDebounce is how long the cluster must be quiet after a change
	// before the cycle starts, so a burst of changes is one cycle;
	// default 300ms.
	WatchDebounce time.Duration
	// WatchBackoff is the delay before re-watching after the n-th
	// consecutive failed query; default backoff.Exponential(1s, 1m).
	WatchBackoff func(attempt int) time.Duration
	// Describe is shown in /v1/status (repo, ref, instance…). It must not
	// hold secrets.
	Describe map[string]string
	Logger   zerolog.Logger

	// RefName names the remote ref the source follows (see
	// source.Repo.RefName), so that pushes to other refs are ignored. nil,
	// like "", lets every authentic push trigger a cycle.
	RefName func() string
	// WebhookSecret authenticates POST /webhook/github (HMAC of the body)
	// and POST /webhook/gitlab (X-Gitlab-Token). Empty refuses both.
	WebhookSecret string
	// APIToken, when set, must be sent as a bearer token to POST /v1/sync.
	APIToken string
	// Metrics records every cycle and serves GET /metrics; nil records
	// nothing.
	Metrics *metrics.Metrics
}

// Agent is the long-running sync loop.
type Agent struct {
	cycles  Cycles
	opts    Options
	log     zerolog.Logger
	status  *status
	trigger chan string
	// watch is nil when Options.Watch is.
	watch *clusterWatch
}

// New builds an agent; nothing runs until Run.
func New(cycles Cycles, opts Options) (*Agent, error) {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8680"
	}
	if opts.StalledRetry <= 0 {
		opts.StalledRetry = 5 * time.Minute
	}
	if opts.Instance == "" {
		opts.Instance = dsync.DefaultInstance
	}
	if opts.Backoff == nil {
		opts.Backoff = backoff.Exponential(5*time.Second, 5*time.Minute, nil)
	}
	if opts.WatchDebounce <= 0 {
		opts.WatchDebounce = 300 * time.Millisecond
	}
	if opts.WatchBackoff == nil {
		opts.WatchBackoff = backoff.Exponential(time.Second, time.Minute, nil)
	}
	if opts.Schedule != "" {
		if _, err := cron.ParseStandard(opts.Schedule); err != nil {
			return nil, fmt.Errorf("schedule %q: %w", opts.Schedule, err)
		}
	}
	a := &Agent{
		cycles:  cycles,
		opts:    opts,
		log:     opts.Logger,
		status:  newStatus(opts.Describe, cycles.Stuck),
		trigger: make(chan string, 1),
	}
	if opts.Watch != nil {
		a.watch = newClusterWatch(opts.Watch, opts.Instance, a.Trigger, opts)
	}
	return a, nil
}

// Trigger asks for a cycle as soon as the current one, if any, is done.
// It never blocks: triggers that arrive while one is pending merge.
func (a *Agent) Trigger(reason string) {
	select {
	case a.trigger <- reason:
	default:
	}
}

// Run serves HTTP and runs cycles until ctx is cancelled, then lets the
// cycle in flight finish its registers and returns nil.
func (a *Agent) Run(ctx context.Context) error {
	var srv *http.Server
	if a.opts.Listen != "-" {
		ln, err := net.Listen("tcp", a.opts.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a.opts.Listen, err)
		}
		srv = newServer(a.Handler(), a.log)
		go func() {
			if err := srv.Serve(limitListener(ln, maxConns())); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error().Str("event", "http.error").Err(err).Msg("http server stopped")
			}
		}()
		a.log.Info().Str("event", "agent.start").Str("listen", ln.Addr().String()).Msg("drover agent started")
	}
	if a.opts.Schedule != "" {
		c := cron.New()
		if _, err := c.AddFunc(a.opts.Schedule, func() { a.Trigger("schedule") }); err != nil {
			return fmt.Errorf("schedule %q: %w", a.opts.Schedule, err)
		}
		c.Start()
		defer c.Stop()
	}

	var watching gosync.WaitGroup
	if a.watch != nil {
		watchCtx, stopWatch := context.WithCancel(ctx)
		watching.Go(func() { a.watch.run(watchCtx) })
		// Stopped before Run returns: the watch never outlives the agent.
		defer watching.Wait()
		defer stopWatch()
	}
	a.loop(ctx)
	// Watches in flight stay in flight in the state store; the next agent
	// resumes them.
	a.cycles.Close()

	if srv != nil {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}
	a.log.Info().Str("event", "agent.stop").Msg("drover agent stopped")
	return nil
}

// loop owns the cycle: two cycles never overlap.
func (a *Agent) loop(ctx context.Context) {
	reason := "start"
	failures := 0
	stalled := ""
	for {
		if a.watch != nil {
			a.watch.cycleStarted()
		}
		report, f := a.cycle(ctx, reason, failures+1, &stalled)
		if a.watch != nil {
			a.watch.cycleDone(report)
		}
		wait := a.opts.Interval
		switch {
		case f == nil:
			failures = 0
		case f.Kind == cycle.Stalled:
			failures++
			wait = a.opts.StalledRetry
		default:
			failures++
			wait = a.opts.Backoff(failures)
		}
		var timer *time.Timer
		var tick <-chan time.Time
		if a.opts.Schedule == "" || failures > 0 {
			timer = time.NewTimer(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case reason = <-a.trigger:
		case <-tick:
			reason = "interval"
			if failures > 0 {
				reason = "retry"
			}
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// cycle runs one cycle and records its outcome. attempt is the attempt the
// next retry would be, for the retry_in a failure logs; stalled is the
// reason the agent was last stalled for, so a stall is logged once.
func (a *Agent) cycle(ctx context.Context, reason string, attempt int, stalled *string) (*dsync.Report, *cycle.Failure) {
	start := time.Now()
	a.status.begin(start)
	a.log.Info().Str("event", "sync.start").Str("reason", reason).Msg("sync started")

	report, f := a.cycles.Run(ctx)
	took := time.Since(start)
	a.status.finish(report, f, took)
	a.recordCycle(report, f, took, start.Add(took))

	switch {
	case f != nil && f.Kind == cycle.Interrupted:
		a.log.Info().Str("event", "sync.done").Str("result", "interrupted").Int64("duration_ms", took.Milliseconds()).
			Msg("sync interrupted by shutdown; registers in flight were finished")
		return report, f
	case f != nil:
		retryIn := a.opts.Backoff(attempt)
		if f.Kind == cycle.Stalled {
			retryIn = a.opts.StalledRetry
			if why := f.Error(); why != *stalled {
				*stalled = why
				a.log.Warn().Str("event", "sync.stalled").Str("step", string(f.Step)).Str("reason", why).
					Str("retry_in", retryIn.String()).Msg("sync cannot succeed until the configuration or the remote changes")
			}
		}
		a.log.Error().Str("event", "sync.done").Str("result", "failed").Str("step", string(f.Step)).Str("kind", string(f.Kind)).
			Err(f).Int64("duration_ms", took.Milliseconds()).Str("retry_in", retryIn.Round(time.Millisecond).String()).
			Msg("sync failed")
		return report, f
	}
	*stalled = ""
	c := report.Counts()
	ev := a.log.Info()
	if report.Failed() {
		ev = a.log.Warn()
	}
	ev.Str("event", "sync.done").Str("commit", report.Revision).Interface("counts", c).
		Int("errors", c.Errors+c.Conflicts).Int64("duration_ms", took.Milliseconds()).Msg("sync finished")
	return report, nil
}

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

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/rollout"
	dsync "github.com/drover-dev/drover/sync"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
)

// Source fetches the newest revision of the watched ref.
type Source interface {
	Fetch(ctx context.Context) (jobs.Tree, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (jobs.Tree, error)

// Fetch calls f.
func (f SourceFunc) Fetch(ctx context.Context) (jobs.Tree, error) { return f(ctx) }

// Options configure an Agent.
type Options struct {
	// Interval between cycles; default 1m. Ignored when Schedule is set.
	Interval time.Duration
	// Schedule is a cron expression (robfig/cron, 5 fields or
	// descriptors such as "@every 30s").
	Schedule string
	// Listen is the HTTP address; default 127.0.0.1:8680. "-" disables HTTP.
	Listen string
	// FetchTimeout bounds one git fetch; default 2m.
	FetchTimeout time.Duration
	// Backoff is the retry delay after the n-th consecutive failed cycle;
	// default backoff.Exponential(5s, 5m).
	Backoff func(attempt int) time.Duration
	// Rollouts, when set, watches every register through to a verdict and
	// puts back the last good spec of a job whose rollout failed.
	Rollouts *rollout.Manager
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
	source  Source
	loader  *jobs.Loader
	engine  *dsync.Engine
	opts    Options
	log     zerolog.Logger
	status  *status
	trigger chan string
	// watch is nil when Options.Watch is.
	watch *clusterWatch
}

// New builds an agent; nothing runs until Run.
func New(source Source, loader *jobs.Loader, engine *dsync.Engine, opts Options) (*Agent, error) {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8680"
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 2 * time.Minute
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
		source:  source,
		loader:  loader,
		engine:  engine,
		opts:    opts,
		log:     opts.Logger,
		status:  newStatus(opts.Describe),
		trigger: make(chan string, 1),
	}
	if opts.Watch != nil {
		a.watch = newClusterWatch(opts.Watch, engine.Instance(), a.Trigger, opts)
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
		srv = &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
	if a.opts.Rollouts != nil {
		// Watches in flight stay in flight in the state store; the next
		// agent resumes them.
		a.opts.Rollouts.Close()
	}

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
	for {
		wait := a.opts.Interval
		retryIn := a.opts.Backoff(failures + 1)
		if a.watch != nil {
			a.watch.cycleStarted()
		}
		report, err := a.cycle(ctx, reason, retryIn)
		if a.watch != nil {
			a.watch.cycleDone(report)
		}
		if err != nil {
			failures++
			wait = retryIn
		} else {
			failures = 0
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

// cycle runs fetch → load → sync once and records the outcome.
func (a *Agent) cycle(ctx context.Context, reason string, retryIn time.Duration) (*dsync.Report, error) {
	start := time.Now()
	a.status.begin(start)
	a.log.Info().Str("event", "sync.start").Str("reason", reason).Msg("sync started")

	report, step, err := a.run(ctx)
	took := time.Since(start)
	a.status.finish(report, step, err, took)
	a.recordCycle(report, err, took, start.Add(took))

	switch {
	case err != nil && ctx.Err() != nil:
		a.log.Info().Str("event", "sync.done").Str("result", "interrupted").Int64("duration_ms", took.Milliseconds()).
			Msg("sync interrupted by shutdown; registers in flight were finished")
		return report, err
	case err != nil:
		a.log.Error().Str("event", "sync.done").Str("result", "failed").Str("step", step).Err(err).
			Int64("duration_ms", took.Milliseconds()).Str("retry_in", retryIn.Round(time.Millisecond).String()).
			Msg("sync failed before any job was touched")
		return report, err
	}
	c := report.Counts()
	ev := a.log.Info()
	if report.Failed() {
		ev = a.log.Warn()
	}
	ev.Str("event", "sync.done").Str("commit", report.Revision).Interface("counts", c).
		Int("errors", c.Errors+c.Conflicts).Int64("duration_ms", took.Milliseconds()).Msg("sync finished")
	return report, nil
}

func (a *Agent) run(ctx context.Context) (*dsync.Report, string, error) {
	fetchCtx, cancel := context.WithTimeout(ctx, a.opts.FetchTimeout)
	fetchStart := time.Now()
	tree, err := a.source.Fetch(fetchCtx)
	a.opts.Metrics.FetchFinished(err != nil, time.Since(fetchStart))
	cancel()
	if err != nil {
		return nil, "fetch", err
	}
	set, err := a.loader.Load(ctx, tree)
	if err != nil {
		return nil, "load", err
	}
	ro := a.opts.Rollouts
	if ro != nil {
		if err := ro.Prepare(ctx); err != nil {
			return nil, "state", err
		}
		set = ro.Pin(ctx, set)
	}
	report, err := a.engine.Sync(ctx, set)
	if ro != nil && report != nil {
		ro.Record(ctx, report)
	}
	if err != nil {
		return report, "sync", err
	}
	return report, "", nil
}

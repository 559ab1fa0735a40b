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
	"sync"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/watch"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/ui"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
)

// Cycles runs reconcile cycles: *cycle.Runner.
type Cycles interface {
	// Run runs one cycle; a failure says where and why it stopped.
	Run(ctx context.Context) (*reconcile.Report, *cycle.Failure)
	// Stuck reports whether the cycle in flight has gone longer than its
	// step's budget without progress.
	Stuck(now time.Time) (step cycle.Step, idle, budget time.Duration, stuck bool)
	// Close stops what the cycles left running (rollout watches).
	Close()
}

// RolloutStatus is each job's rollout state for /v1/status:
// *rollout.Manager.
type RolloutStatus interface {
	Status() []api.JobRollout
}

// Defaults of Options, shared with the command line.
const (
	// DefaultInterval is the time between cycles without a schedule.
	DefaultInterval = time.Minute
	// DefaultListen is the HTTP address: this host only.
	DefaultListen = "127.0.0.1:8680"
)

// Options configure an Agent.
type Options struct {
	// Interval between cycles; default DefaultInterval. Ignored when Schedule is set.
	Interval time.Duration
	// Schedule is a cron expression (robfig/cron, 5 fields or
	// descriptors such as "@every 30s").
	Schedule string
	// Listen is the HTTP address; default DefaultListen. "-" disables HTTP.
	Listen string
	// Backoff is the retry delay after the n-th consecutive failed cycle;
	// default backoff.Exponential(5s, 5m).
	Backoff func(attempt int) time.Duration
	// StalledRetry is the time between cycles while the agent is stalled
	// (a ref that does not exist, refused credentials, a missing
	// permission): retrying sooner cannot help, and a trigger (a push, POST
	// /v1/sync) still runs a cycle at once. Default 5m.
	StalledRetry time.Duration
	// Instance is the drover instance whose jobs the cluster watch
	// follows; default "drover".
	Instance string
	// Leadership elects the replica that acts; nil runs alone, always
	// leading.
	Leadership Leadership
	// Triggers forwards sync requests from a standby replica to the
	// leader; nil when running alone.
	Triggers Triggers
	// ID names this replica in /v1/status and forwarded requests.
	ID string
	// NoLeaderAfter is how long a standby may see no leader before
	// /healthz fails; default 1m.
	NoLeaderAfter time.Duration
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
	// Emitter writes the agent's events to the log and the bus (default:
	// to Logger and Events).
	Emitter *events.Emitter

	// RefName names the remote ref the source follows (see
	// source.Repo.RefName), so that pushes to other refs are ignored. nil,
	// like "", lets every authentic push trigger a cycle.
	RefName func() string
	// Sources, with many sources (--config), are the repos and refs drover
	// follows: a push starts a cycle only when its repo and ref are one
	// source's. Nil: RefName alone decides.
	Sources []WebhookSource
	// WebhookSecret authenticates POST /webhook/github (HMAC of the body)
	// and POST /webhook/gitlab (X-Gitlab-Token). Empty refuses both.
	WebhookSecret string
	// APIToken, when set, must be sent as a bearer token to POST /v1/sync.
	APIToken string
	// Events, when set, holds the events emitted, for whatever shows or
	// forwards them: the page and GET /v1/events.
	Events *events.Bus
	// Metrics records every cycle and serves GET /metrics; nil records
	// nothing.
	Metrics *metrics.Metrics
	// UI serves the web page at / and /jobs/<namespace>/<name>.
	UI bool
	// NomadUIURL is the Nomad web UI the page links jobs to; "" links
	// none.
	NomadUIURL string
	// Controls serve POST /v1/suspend and /v1/resume and the controls of
	// /v1/status, and the leader watches them; nil: none.
	Controls Controls
	// Pprof serves Go's runtime profiles under /debug/pprof/.
	Pprof bool
}

// Agent is the long-running sync loop.
type Agent struct {
	newTerm TermFunc
	opts    Options
	events  *events.Emitter
	status  *status
	trigger chan request
	// page is the web page, nil with Options.UI off; stream serves GET
	// /v1/events, nil without Options.Events.
	page   *ui.UI
	stream *ui.EventStream

	mu sync.Mutex
	// role is single, leader or standby; cycles and rollouts are the
	// current term's, nil while standby.
	role     api.Role
	cycles   Cycles
	rollouts RolloutStatus
	// leader is the replica last seen leading, and since when none was.
	leader         *Holder
	noLeaderSince  time.Time
	leaderLookupAt time.Time
}

// request is a reason to run a cycle, and the replica it came through.
type request struct{ reason, via string }

// New builds an agent; nothing runs until Run. newTerm builds the parts
// each leadership runs (Fixed for parts built once).
func New(newTerm TermFunc, opts Options) (*Agent, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Emitter == nil {
		opts.Emitter = events.NewEmitter(opts.Logger, opts.Events)
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.StalledRetry <= 0 {
		opts.StalledRetry = 5 * time.Minute
	}
	if opts.Instance == "" {
		opts.Instance = reconcile.DefaultInstance
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
	if opts.NoLeaderAfter <= 0 {
		opts.NoLeaderAfter = time.Minute
	}
	if opts.Schedule != "" {
		if _, err := cron.ParseStandard(opts.Schedule); err != nil {
			return nil, fmt.Errorf("schedule %q: %w", opts.Schedule, err)
		}
	}
	role := RoleStandby
	if opts.Leadership == nil {
		opts.Leadership, role = lone{}, RoleSingle
	}
	a := &Agent{
		newTerm: newTerm,
		opts:    opts,
		events:  opts.Emitter,
		trigger: make(chan request, 1),
		role:    role,
	}
	a.status = newStatus(opts.Describe, a.stuck)
	if err := a.newPage(); err != nil {
		return nil, err
	}
	return a, nil
}

// Trigger asks for a cycle as soon as the current one, if any, is done.
// It never blocks: triggers that arrive while one is pending merge.
func (a *Agent) Trigger(reason string) { a.request(request{reason: reason}) }

func (a *Agent) request(r request) {
	select {
	case a.trigger <- r:
	default:
	}
}

// stuck is the current term's Cycles.Stuck; never stuck while standby.
func (a *Agent) stuck(now time.Time) (cycle.Step, time.Duration, time.Duration, bool) {
	a.mu.Lock()
	c := a.cycles
	a.mu.Unlock()
	if c == nil {
		return "", 0, 0, false
	}
	return c.Stuck(now)
}

// Run serves HTTP and, while this replica leads, runs cycles, until ctx is
// cancelled; then it lets the cycle in flight finish its registers, gives
// up the leadership and returns nil.
func (a *Agent) Run(ctx context.Context) error {
	var srv *http.Server
	if a.opts.Listen != "-" {
		ln, err := net.Listen("tcp", a.opts.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a.opts.Listen, err)
		}
		srv = newServer(a.Handler(), a.events)
		if a.stream != nil {
			// Event streams never go idle: end them, or Shutdown waits
			// for them until its deadline.
			srv.RegisterOnShutdown(a.stream.Stop)
		}
		go func() {
			if err := srv.Serve(limitListener(ln, maxConns())); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.events.Emit(events.HTTPError{Error: err.Error()}, "http server stopped")
			}
		}()
		a.events.Emit(events.AgentStart{Listen: ln.Addr().String()}, "drover agent started")
	}
	if a.opts.Schedule != "" {
		c := cron.New()
		if _, err := c.AddFunc(a.opts.Schedule, func() { a.Trigger("schedule") }); err != nil {
			return fmt.Errorf("schedule %q: %w", a.opts.Schedule, err)
		}
		c.Start()
		defer c.Stop()
	}

	var err error
	for ctx.Err() == nil && err == nil {
		err = a.lead(ctx)
	}

	if srv != nil {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}
	a.events.Emit(events.AgentStop{}, "drover agent stopped")
	return err
}

// lead waits to lead, then runs cycles until the leadership is lost or
// ctx ends. Everything a term starts stops before lead returns.
func (a *Agent) lead(ctx context.Context) error {
	term, err := a.opts.Leadership.Campaign(ctx)
	if err != nil {
		return nil // ctx ended while standby
	}
	termCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-term.Lost():
			cancel()
		case <-termCtx.Done():
		}
	}()
	cycles, rollouts, err := a.newTerm(termCtx, term)
	if err != nil {
		term.Resign()
		return fmt.Errorf("start leading: %w", err)
	}
	a.setTerm(cycles, rollouts)
	a.opts.Metrics.Leader(true)

	var running sync.WaitGroup
	var watch *clusterWatch
	if a.opts.Watch != nil {
		watch = newClusterWatch(a.opts.Watch, a.opts.Instance, a.Trigger, a.opts)
		running.Go(func() { watch.run(termCtx) })
	}
	if a.opts.Triggers != nil {
		running.Go(func() { a.forwarded(termCtx) })
	}
	if a.opts.Controls != nil {
		running.Go(func() { a.opts.Controls.Watch(termCtx, a.Trigger, a.opts.WatchBackoff) })
	}
	a.loop(termCtx, cycles, watch)
	cancel()
	running.Wait()
	// Watches in flight stay in flight in the state store; the next
	// leader resumes them.
	cycles.Close()
	a.setTerm(nil, nil)
	a.opts.Metrics.Leader(false)
	if ctx.Err() != nil {
		term.Resign()
	}
	return nil
}

func (a *Agent) setTerm(c Cycles, r RolloutStatus) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cycles, a.rollouts = c, r
	switch {
	case a.role == RoleSingle:
	case c != nil:
		a.role = RoleLeader
	default:
		a.role = RoleStandby
	}
}

// forwarded turns the sync requests standby replicas send into cycles.
func (a *Agent) forwarded(ctx context.Context) {
	v := watch.NewView(watch.Options{Name: "forwarded", Wait: 5 * time.Minute, Backoff: a.opts.WatchBackoff, Emitter: a.events})
	watch.Run(ctx, v, func(ctx context.Context, q watch.Query) (request, uint64, error) {
		reason, via, next, err := a.opts.Triggers.Next(ctx, q.Index, q.Wait)
		return request{reason: reason, via: via}, next, err
	}, func(r request, q watch.Query) {
		// The request found at start, or on a new Consul, is old: only
		// newer ones count.
		if q.Blocking() && r.reason != "" {
			a.request(r)
		}
	})
}

// loop owns the cycle: two cycles never overlap.
func (a *Agent) loop(ctx context.Context, cycles Cycles, watch *clusterWatch) {
	req := request{reason: "start"}
	failures := 0
	stalled := ""
	for {
		if watch != nil {
			watch.cycleStarted()
		}
		report, f := a.cycle(ctx, cycles, req, failures+1, &stalled)
		if watch != nil {
			watch.cycleDone(report)
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
		case req = <-a.trigger:
		case <-tick:
			req = request{reason: "interval"}
			if failures > 0 {
				req.reason = "retry"
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
func (a *Agent) cycle(ctx context.Context, cycles Cycles, req request, attempt int, stalled *string) (*reconcile.Report, *cycle.Failure) {
	start := time.Now()
	a.status.begin(start)
	a.events.Emit(events.SyncStart{Reason: req.reason, Via: req.via}, "sync started")

	report, f := cycles.Run(ctx)
	took := time.Since(start)
	a.status.finish(report, f, took)
	a.recordCycle(report, f, took, start.Add(took))

	switch {
	case f != nil && f.Kind == cycle.Interrupted:
		a.events.Emit(events.SyncDone{Result: "interrupted", DurationMS: took.Milliseconds()},
			"sync interrupted by shutdown; registers in flight were finished")
		return report, f
	case f != nil:
		retryIn := a.opts.Backoff(attempt)
		if f.Kind == cycle.Stalled {
			retryIn = a.opts.StalledRetry
			if why := f.Error(); why != *stalled {
				*stalled = why
				a.events.Emit(events.SyncStalled{Step: string(f.Step), Reason: why, RetryIn: retryIn},
					"sync cannot succeed until the configuration or the remote changes")
			}
		}
		a.events.Emit(events.SyncDone{Result: "failed", Step: string(f.Step), Kind: string(f.Kind), Error: f.Error(),
			DurationMS: took.Milliseconds(), RetryIn: retryIn.Round(time.Millisecond)}, "sync failed")
		return report, f
	}
	*stalled = ""
	c := report.Counts()
	a.events.Emit(events.SyncDone{Commit: report.Revision, Counts: &c, Errors: c.Errors + c.Conflicts,
		DurationMS: took.Milliseconds()}, "sync finished")
	return report, nil
}

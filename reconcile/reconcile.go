// Package reconcile is drover's reconcile engine. Given the jobs git wants and a
// Nomad cluster, it plans every job, classifies the difference, reports it,
// applies it with check-index, and reports or prunes the jobs git dropped.
// It knows nothing about git, HTTP or flags.
//
// The package name shadows the standard library's; importers use the alias
// reconcile.
package reconcile

import (
	"context"
	"time"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// Cluster is the part of the Nomad API the engine needs.
type Cluster interface {
	// Jobs lists the jobs of every namespace, with their meta.
	Jobs(ctx context.Context) ([]*api.JobListStub, error)
	Plan(ctx context.Context, job *api.Job) (*api.JobPlanResponse, error)
	Register(ctx context.Context, job *api.Job, opts *api.RegisterOptions) (*api.JobRegisterResponse, error)
	// Job reads a registered job; used for the version a register produced.
	Job(ctx context.Context, namespace, id string) (*api.Job, error)
	// Deregister stops a job without purging it and returns the eval ID.
	Deregister(ctx context.Context, namespace, id string) (string, error)
}

// Options configure an Engine. The zero value plans and reports only.
type Options struct {
	// Instance names this drover in the ownership meta; default "drover".
	Instance string
	// Apply registers every job that is not in sync. Without it the
	// engine is a dry run.
	Apply bool
	// Prune deregisters managed jobs that git no longer has.
	Prune bool
	// Parallel bounds the jobs planned and applied at once; default 16:
	// measured on a cold sync of 1000 jobs, the fastest of 4, 8 and 16,
	// and with the watches' queries far below Nomad's
	// http_max_conns_per_client (100).
	Parallel int
	// CallTimeout bounds each Nomad call; default DefaultCallTimeout.
	CallTimeout time.Duration
	// PlanAlways plans every job every cycle, as if no plan had been made
	// before. By default a job whose git spec and cluster copy are both
	// unchanged since a plan found it in sync is not planned again.
	// For benchmarks and for ruling the memo out when debugging.
	PlanAlways bool
	// RegisterNewUnplanned registers a job the cluster does not have yet
	// without planning it first (with Apply, and unless it is held): for
	// a new job the plan can only say "create", and it is a scheduler run
	// on the server as costly as the register's own, so skipping it halves
	// the Nomad work of a large deploy. The next cycle plans the job once,
	// which reports what it could not place. For the agent; plan and apply
	// print a new job's groups and placements from its plan.
	RegisterNewUnplanned bool
	// PlanRetry is the wait before planning again a job whose plan Nomad
	// refused (a 4xx) while neither its spec nor its cluster copy changed,
	// by the number of refusals in a row; default exponential from 30s to
	// 15m. A change to either plans it at once.
	PlanRetry func(attempt int) time.Duration
	// ResetCounts gives every group git's count, also groups whose count
	// an autoscaler owns (an enabled scaling block) or drover.ignore
	// lists: their count differences are changes again and registers
	// write git's count. By default those counts stay the cluster's.
	ResetCounts bool
	// Allowed, when set, is asked right before every register and
	// deregister; false refuses the write and stops the cycle. A replica
	// of a highly available drover passes its leadership's lease check.
	Allowed func() bool
	// Progress, when set, is called after every Nomad call completes, so
	// the cycle runner can tell a long sync from a hung one.
	Progress func()
	Logger   zerolog.Logger
}

// DefaultInstance is the instance name used when Options.Instance is empty.
const DefaultInstance = "drover"

// DefaultParallel is Options.Parallel's default.
const DefaultParallel = 16

// DefaultCallTimeout is Options.CallTimeout's default, and that of every
// other bound on one Nomad call (--nomad-timeout).
const DefaultCallTimeout = time.Minute

func (o Options) withDefaults() Options {
	if o.Instance == "" {
		o.Instance = DefaultInstance
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.PlanRetry == nil {
		o.PlanRetry = backoff.Exponential(30*time.Second, 15*time.Minute, nil)
	}
	return o
}

// Engine reconciles one cluster with the jobs of a revision.
type Engine struct {
	cluster Cluster
	opts    Options
	memo    planMemo
	// versions spares reading a job back after a register to learn its
	// version.
	versions versionBook
	// now is the clock of plan retries; tests replace it.
	now func() time.Time
}

// New returns an engine over cluster.
func New(cluster Cluster, opts Options) *Engine {
	return &Engine{cluster: cluster, opts: opts.withDefaults(), now: time.Now}
}

// Instance is the drover instance whose jobs this engine owns.
func (e *Engine) Instance() string { return e.opts.Instance }

func (e *Engine) progress() {
	if e.opts.Progress != nil {
		e.opts.Progress()
	}
}

// call runs one Nomad call with its own deadline.
func (e *Engine) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.opts.CallTimeout)
}

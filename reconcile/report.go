package reconcile

import (
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// JobResult is what one cycle found and did for one job file.
type JobResult struct {
	jobs.Key
	Path string
	// Source names the job's source with many sources (--config).
	Source string
	// Commit is the commit the job carries once in sync.
	Commit string
	// Fingerprint identifies the spec the engine planned.
	Fingerprint string
	// Hold is why the job was not registered even though it differs.
	Hold string
	// DependsOn are the jobs this one is registered after
	// (jobs.MetaDependsOn), as written.
	DependsOn []jobs.Key
	// AppliedCommit is the drover.commit the cluster's copy had before this
	// cycle, "" when absent or not drover's.
	AppliedCommit string
	Class         Class
	// Changes are the plan's differences, one field per line.
	Changes []string
	// Diff is the plan's structured diff, for rendering.
	Diff   *api.JobDiff
	Groups map[string]GroupCounts
	// PlacementFailures are the task groups the scheduler could not place.
	PlacementFailures map[string]*api.AllocationMetric
	Warnings          string
	// Planned is set when this cycle called the plan API for the job;
	// unset for a job the plan memo reported in sync.
	Planned bool
	// Applied is set when this cycle registered the job.
	Applied *Applied
	// Err is why the job could not be loaded, planned or applied. A
	// check-index refusal is an ErrConflict.
	Err error
}

// Applied records a successful register.
type Applied struct {
	EvalID      string
	Version     uint64
	ModifyIndex uint64
	// Job is the job as sent to Nomad (shared with the loaded file: never
	// modify it). It is not read back, so Nomad's defaults are not filled
	// in. Nil when the version was unknown and reading it back failed.
	Job *api.Job
}

// Orphan is a job drover registered whose file is gone from git.
type Orphan struct {
	jobs.Key
	Path   string
	Commit string
	// Source is the source that registered the job, with many sources.
	Source string
	// Blocked says why this orphan in particular is kept although pruning
	// is on: it is suspended, or, with many sources, its source says so
	// (Report.PruneBlocked is for all orphans of one source).
	Blocked string
	// Pruned is set when this cycle deregistered the job.
	Pruned bool
	EvalID string
	Err    error
}

// Report is the outcome of one cycle.
type Report struct {
	Revision string
	// Commit describes Revision (subject, author, time) when git could.
	Commit  *jobs.CommitInfo
	Jobs    []*JobResult
	Orphans []*Orphan
	// PruneBlocked says why orphans were kept even though pruning is on.
	PruneBlocked string
	// Sources is what each source gave, with many sources (--config).
	Sources  []jobs.SourceOutcome
	Duration time.Duration
}

// Counts tallies the report by class and outcome.
func (r *Report) Counts() Counts {
	var c Counts
	for _, j := range r.Jobs {
		if j.Planned {
			c.Planned++
		}
		switch j.Class {
		case InSync:
			c.InSync++
		case Create:
			c.Create++
		case Update:
			c.Update++
		case Drift:
			c.Drift++
		}
		switch {
		case IsConflict(j.Err):
			c.Conflicts++
		case j.Err != nil:
			c.Errors++
		case j.Applied != nil:
			c.Applied++
		}
	}
	for _, s := range r.Sources {
		if s.Err != nil {
			// A source that could not be read fails the cycle's outcome
			// as a broken file does: `apply` exits 1.
			c.Errors++
		}
	}
	for _, o := range r.Orphans {
		c.Orphans++
		if o.Pruned {
			c.Pruned++
		}
		if o.Err != nil {
			c.Errors++
		}
	}
	return c
}

// Pending reports whether the cluster differs from git in any way a sync
// would change. A held job is not pending: a sync would leave it alone.
func (r *Report) Pending() bool {
	for _, j := range r.Jobs {
		if j.Class != InSync && j.Class != Failed && j.Applied == nil && j.Hold == "" {
			return true
		}
	}
	for _, o := range r.Orphans {
		if !o.Pruned {
			return true
		}
	}
	return false
}

// Failed reports whether any job or orphan ended in an error, conflicts
// included.
func (r *Report) Failed() bool {
	c := r.Counts()
	return c.Errors > 0 || c.Conflicts > 0
}

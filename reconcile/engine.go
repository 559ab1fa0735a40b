package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// Sync reconciles the cluster with set: plan → classify → report → apply →
// prune. Per-job outcomes are logged as they happen and collected in the
// report; the returned error is for a cycle that could not run at all, and
// then no job has been touched.
func (e *Engine) Sync(ctx context.Context, set *jobs.Set) (*Report, error) {
	start := time.Now()
	cluster, err := e.listJobs(ctx)
	if err != nil {
		return nil, err
	}
	report := &Report{Revision: set.Revision, Commit: set.Commit, Sources: set.Sources}
	// A Nomad that stops answering fails the cycle at the first call that
	// times out, instead of once per job: a thousand plans each waiting out
	// the call timeout would hold the cycle for hours.
	jobsCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	report.Jobs = e.syncJobs(jobsCtx, abort, set, cluster)
	e.memo.retain(set.Keys())
	e.versions.retain(set.Keys())
	if err := context.Cause(jobsCtx); err != nil && ctx.Err() == nil {
		report.Duration = time.Since(start)
		return report, err
	}
	report.Orphans, report.PruneBlocked = e.orphans(ctx, set, cluster)
	report.Duration = time.Since(start)
	return report, ctx.Err()
}

func (e *Engine) listJobs(ctx context.Context) (map[jobs.Key]*api.JobListStub, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	stubs, err := e.cluster.Jobs(ctx)
	e.progress()
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	out := make(map[jobs.Key]*api.JobListStub, len(stubs))
	for _, s := range stubs {
		out[jobs.Key{Namespace: s.Namespace, ID: s.ID}] = s
	}
	return out, nil
}

// syncJobs plans and, when applying, registers every file of set, a bounded
// number at a time. Plans run in any order; a job that depends on others
// (jobs.MetaDependsOn) waits for their results before it registers, and is
// held unless they are in sync and settled. Once ctx is cancelled no new
// job is started.
func (e *Engine) syncJobs(ctx context.Context, abort context.CancelCauseFunc, set *jobs.Set, cluster map[jobs.Key]*api.JobListStub) []*JobResult {
	results := make([]*JobResult, len(set.Files))
	order := orderOf(set)
	// done[i] is closed once results[i] is written: a dependent reads it
	// only after that.
	done := make([]chan struct{}, len(set.Files))
	for i := range done {
		done[i] = make(chan struct{})
	}
	finish := func(i int, r *JobResult) {
		r.DependsOn = order.keys[i]
		results[i] = r
		close(done[i])
	}
	sem := make(chan struct{}, e.opts.Parallel)
	var wg sync.WaitGroup
	for i, f := range set.Files {
		if f.Err != nil {
			finish(i, e.fileError(f, set.RevisionOf(f)))
			continue
		}
		if err := order.errs[i]; err != nil {
			finish(i, e.orderError(f, set.RevisionOf(f), err))
			continue
		}
		if order.holds[i] != "" && f.Hold == "" {
			held := *f
			held.Hold = order.holds[i]
			f = &held
		}
		// Checked before the select too: when a slot is free as well,
		// select would pick at random and could start the job anyway.
		if ctx.Err() != nil {
			wg.Wait()
			return compact(results[:i])
		}
		if r := e.fromMemo(f, set.RevisionOf(f), cluster[f.Key()]); r != nil {
			// Known in sync: no plan, so no slot and no goroutine.
			finish(i, r)
			continue
		}
		s := &slot{sem: sem}
		if !s.acquire(ctx) {
			// Running jobs write results: truncate only a copy of the
			// slice header, and only once they are done.
			wg.Wait()
			return compact(results[:i])
		}
		var gate func() string
		if deps := order.deps[i]; len(deps) > 0 {
			gate = func() string { return e.await(ctx, s, set, deps, results, done) }
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.release()
			r := e.syncJob(ctx, f, set.RevisionOf(f), cluster[f.Key()], gate)
			switch {
			case errors.Is(r.Err, ErrFenced):
				abort(r.Err)
			case IsUnreachable(r.Err):
				abort(fmt.Errorf("nomad stopped answering during the sync: %w", r.Err))
			}
			finish(i, r)
		}()
	}
	wg.Wait()
	return results
}

func compact(rs []*JobResult) []*JobResult {
	out := rs[:0]
	for _, r := range rs {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

func (e *Engine) fileError(f *jobs.File, revision string) *JobResult {
	r := &JobResult{Path: f.Path, Source: f.SourceName, Commit: revision, Class: Failed, Err: f.Err}
	ev := events.JobError{Subject: events.Subject{Path: f.Path, Commit: revision, Source: f.SourceName}}
	if f.SourceName != "" && f.Job != nil {
		// A job two sources claim still names its job.
		r.Key = f.Key()
		ev.Job, ev.Namespace = r.ID, r.Namespace
	}
	var pe *jobs.ParseError
	if errors.As(f.Err, &pe) && pe.Line > 0 {
		ev.Line = pe.Line
	}
	ev.Error = f.Err.Error()
	e.opts.Emitter.Emit(ev, "job file could not be loaded")
	return r
}

// orderError is the result of a job whose dependencies can never be met as
// written.
func (e *Engine) orderError(f *jobs.File, revision string, err error) *JobResult {
	r := &JobResult{Key: f.Key(), Path: f.Path, Source: f.SourceName, Commit: revision, Fingerprint: f.Fingerprint, Class: Failed, Err: err}
	if f.Commit != "" {
		r.Commit = f.Commit
	}
	e.opts.Emitter.Emit(events.JobError{Subject: jobSubject(r), Error: err.Error()}, "job's dependencies cannot be met; not registered")
	return r
}

// syncJob plans one job, reports its class and applies it when asked. gate,
// when set, is asked before a register, and may take a while: a non-empty
// answer holds the job with that reason.
func (e *Engine) syncJob(ctx context.Context, f *jobs.File, revision string, stub *api.JobListStub, gate func() string) *JobResult {
	r := &JobResult{Key: f.Key(), Path: f.Path, Source: f.SourceName, Commit: revision, Fingerprint: f.Fingerprint, Hold: f.Hold}
	var owner jobs.Ownership
	var owned bool
	if stub != nil {
		if o, ok := jobs.OwnershipOf(stub.Meta, e.opts.Instance); ok {
			owner, owned = o, true
			r.AppliedCommit = o.Commit
		} else if other := stub.Meta[jobs.MetaInstance]; other != "" && stub.Meta[jobs.MetaManaged] == "true" {
			r.Class, r.Err = Failed, fmt.Errorf("job %s is managed by drover instance %q, not %q", r.Key, other, e.opts.Instance)
			e.memo.forget(r.Key)
			e.opts.Emitter.Emit(events.JobError{Subject: jobSubject(r), Error: r.Err.Error()}, "job belongs to another drover")
			return r
		}
	}
	r.Commit = commitFor(f, revision, owner, owned)
	in := inputOf(f, r.Commit, stub)
	job := jobs.Stamp(f.Job, jobs.Ownership{
		Commit:      r.Commit,
		Path:        f.Path,
		Fingerprint: f.Fingerprint,
		Instance:    e.opts.Instance,
		Source:      f.SourceName,
	})
	subject := jobSubject(r)

	plan, err := e.planUnlessNew(ctx, r, job, stub)
	if err != nil {
		r.Class, r.Err = Failed, err
		if !isRefusal(err) {
			e.memo.forget(r.Key)
			e.opts.Emitter.Emit(events.JobError{Subject: subject, Error: err.Error()}, "plan failed")
			return r
		}
		retryAt := e.memo.recordRefused(r.Key, in, err, e.now(), e.opts.PlanRetry)
		e.opts.Emitter.Emit(events.JobError{Subject: subject, RetryAt: retryAt, Error: err.Error()},
			"plan refused; planned again at retry_at, or at once when git or the cluster's copy changes")
		return r
	}
	// Fields other tools own (an autoscaled count, drover.ignore) are
	// dropped from the diff before it is classified: a difference only
	// there is not drift.
	others := foreignOf(f, e.opts.ResetCounts)
	filt := filterDiff(plan.Diff, others)
	r.Diff = outline(filt.diff)
	r.Changes = Changes(filt.diff)
	r.Groups = withoutForeign(groupCounts(plan.Annotations), filt, r.Changes)
	r.PlacementFailures = plan.FailedTGAllocs
	r.Warnings = plan.Warnings
	r.Class = classify(stub, f.Fingerprint, owner, owned, r.Changes, places(r.Groups))
	e.memo.record(r.Key, in, r)
	e.emitIgnored(subject, filt)
	e.emitClass(subject, r)
	if r.Class == InSync {
		return r
	}
	if r.Hold == "" && gate != nil {
		// A dry run asks too: the plan says the job would wait.
		r.Hold = gate()
	}
	if !e.opts.Apply {
		return r
	}
	if r.Hold != "" {
		e.opts.Emitter.Emit(events.JobHeld{Subject: subject, Reason: r.Hold}, "job differs but is held back, not registered")
		return r
	}
	if ctx.Err() != nil {
		// Shutting down: a plan is cheap to redo, a half-started
		// register is not, so stop before starting one.
		return r
	}
	job, preserveCounts, err := e.keepOwned(ctx, r, job, others, filt)
	if err != nil {
		r.Err = err
		e.opts.Emitter.Emit(events.JobError{Subject: subject, Error: err.Error()}, "reading the fields other tools own failed; not registered")
		return r
	}
	applied, err := e.register(ctx, r, job, f.Submission, plan.JobModifyIndex, preserveCounts)
	if err != nil {
		r.Err = err
		if IsConflict(err) {
			e.opts.Emitter.Emit(events.JobConflict{Subject: subject, PlannedIndex: plan.JobModifyIndex, Error: err.Error()},
				"job was changed by someone else after it was planned; not overwritten, will plan again")
		} else {
			e.opts.Emitter.Emit(events.JobError{Subject: subject, Error: err.Error()}, "register failed")
		}
		return r
	}
	r.Applied = applied
	// A job registered unplanned is planned once, next cycle: only a plan
	// can say whether everything was placed.
	if len(r.PlacementFailures) == 0 {
		e.memo.recordApplied(r.Key, appliedInput(in, applied.ModifyIndex), r.Warnings, !r.Planned)
	}
	registered := subject
	registered.Version = applied.Version
	e.opts.Emitter.Emit(events.JobApplied{Subject: registered, Class: string(r.Class), EvalID: applied.EvalID,
		ModifyIndex: applied.ModifyIndex}, "job registered")
	return r
}

// commitFor is the commit a job carries. It only moves when git changed
// the spec: a commit that leaves the job alone must not show up as a
// difference.
func commitFor(f *jobs.File, revision string, owner jobs.Ownership, owned bool) string {
	if owned && owner.Fingerprint == f.Fingerprint && owner.Commit != "" {
		return owner.Commit
	}
	if f.Commit != "" {
		// A rollback: the spec is the one of an older commit.
		return f.Commit
	}
	return revision
}

// planUnlessNew plans job, or, with Options.RegisterNewUnplanned, answers
// for a new job what its plan would say about its spec: it is all new.
func (e *Engine) planUnlessNew(ctx context.Context, r *JobResult, job *api.Job, stub *api.JobListStub) (*api.JobPlanResponse, error) {
	if stub == nil && e.opts.RegisterNewUnplanned && e.opts.Apply && r.Hold == "" {
		return &api.JobPlanResponse{Diff: &api.JobDiff{Type: "Added", ID: r.ID}}, nil
	}
	r.Planned = true
	return e.plan(ctx, job)
}

func (e *Engine) plan(ctx context.Context, job *api.Job) (*api.JobPlanResponse, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	plan, err := e.cluster.Plan(ctx, job)
	e.progress()
	if err != nil {
		return nil, fmt.Errorf("plan %s/%s: %w", *job.Namespace, *job.ID, markUnreachable(err))
	}
	return plan, nil
}

// isRefusal reports whether err is Nomad refusing the job itself (a 4xx
// other than 429), as opposed to not answering: the same request would be
// refused again.
func isRefusal(err error) bool {
	var ue api.UnexpectedResponseError
	return !IsUnreachable(err) && errors.As(err, &ue) && ue.StatusCode() >= 400 && ue.StatusCode() < 500 &&
		ue.StatusCode() != http.StatusTooManyRequests
}

// jobSubject names r in its events as every per-job line names it.
func jobSubject(r *JobResult) events.Subject {
	return events.Subject{Job: r.ID, Namespace: r.Namespace, Path: r.Path, Commit: r.Commit, Source: r.Source}
}

func (e *Engine) emitClass(subject events.Subject, r *JobResult) {
	for _, group := range sortedKeys(r.PlacementFailures) {
		m := r.PlacementFailures[group]
		e.opts.Emitter.Emit(events.JobPlacementFailed{Subject: subject, Group: group,
			NodesEvaluated: m.NodesEvaluated, NodesFiltered: m.NodesFiltered,
			DimensionExhausted: m.DimensionExhausted, ConstraintFiltered: m.ConstraintFiltered},
			"the scheduler could not place every allocation of this group")
	}
	if r.Class == InSync {
		e.opts.Emitter.Emit(events.JobInSync{Subject: subject}, "job matches git")
		return
	}
	change := events.JobChange{Subject: subject, AppliedCommit: r.AppliedCommit, Changes: r.Changes, Groups: maps.Clone(r.Groups)}
	var ev events.Event
	switch r.Class {
	case Create:
		ev = events.JobCreate{JobChange: change}
	case Update:
		ev = events.JobUpdate{JobChange: change}
	default:
		ev = events.JobDrift{JobChange: change}
	}
	e.opts.Emitter.Emit(ev, classMessage(r.Class))
}

func classMessage(c Class) string {
	switch c {
	case Create:
		return "job is not running in the cluster"
	case Update:
		return "git changed the job"
	default:
		return "cluster differs from git"
	}
}

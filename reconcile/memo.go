package reconcile

import (
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// planMemo remembers, per job, the inputs of the last plan that found the
// job in sync with nothing for the scheduler to do, or of the last register
// drover made. A plan is a pure function of the job drover would submit and
// the cluster's copy of it; when neither changed, planning again can only
// say "in sync" again, so the engine skips the call. That makes a quiet
// cycle cost one job list instead of one plan per job, and a deploy one
// plan per job: a job drover just registered is known to be in sync at the
// modify index the register returned, so it is not planned again to find
// that out. A job the agent registered without a plan (a new one, see
// Options.RegisterNewUnplanned) is planned once after its register, for
// what the scheduler could not place.
//
// The cluster side is the job list stub: any write to the job (a hand
// `nomad job run`, a scale, a stop, a revert) bumps JobModifyIndex, and a
// job that is stopped or dies changes Stop or goes to Status dead. Other
// status moves (pending → running as allocations start, running → pending
// while one is replaced) are the scheduler carrying the job out; they
// cannot change what a plan of the same spec against the same copy says
// should be registered, so they are not inputs. The git side is the
// fingerprint of the parsed spec plus the ownership meta drover stamps
// (commit and path); the instance is fixed per engine.
//
// What the memo cannot see is the scheduler's view of a job that did not
// change: an allocation that failed and needs replacing, or a placement that
// could not be made. Plans that show either are never memoized (see
// memoizable); the rollout watch is what follows a registered job's
// allocations.
//
// A plan Nomad refused (a 4xx: the spec does not validate against this
// cluster) is remembered too, with its error: the same spec against the
// same copy would be refused again, so it is retried on a per-job backoff
// instead of every cycle, and at once when either input changes.
type planMemo struct {
	byJob[memoEntry]
}

// memoInput is everything a plan's verdict depends on.
type memoInput struct {
	fingerprint string
	commit      string
	path        string
	modifyIndex uint64
	stop        bool
	dead        bool
}

// memoEntry is a remembered in-sync plan or register: its inputs and the
// parts of its result a report shows for an in-sync job; or a refused plan,
// with its error and when it may be tried again.
type memoEntry struct {
	in       memoInput
	warnings string
	// refused is the error of a plan Nomad refused; nil for an in-sync
	// entry.
	refused error
	// attempts counts the refusals of this input in a row; retryAt is
	// when the next plan may be made.
	attempts int
	retryAt  time.Time
	// unplanned marks a register made without a plan: the job must be
	// planned once, to learn what the scheduler could not place, before
	// the memo answers for it.
	unplanned bool
}

// fromMemo returns the in-sync result of a job whose last plan, made with
// the same inputs, found nothing to do (or which this engine registered
// with them), or the failed result of one whose plan Nomad refused and is
// not due again; nil when the job must be planned.
func (e *Engine) fromMemo(f *jobs.File, revision string, stub *api.JobListStub) *JobResult {
	if e.opts.PlanAlways {
		return nil
	}
	var owner jobs.Ownership
	var owned bool
	if stub != nil {
		owner, owned = jobs.OwnershipOf(stub.Meta, e.opts.Instance)
	}
	r := &JobResult{Key: f.Key(), Path: f.Path, Source: f.SourceName, Commit: commitFor(f, revision, owner, owned), Class: InSync,
		Fingerprint: f.Fingerprint, Hold: f.Hold}
	if owned {
		r.AppliedCommit = owner.Commit
	}
	hit, ok := e.memo.lookup(r.Key, inputOf(f, r.Commit, stub))
	if !ok {
		return nil
	}
	if hit.refused != nil {
		if !e.now().Before(hit.retryAt) {
			return nil
		}
		// Logged as job.error when Nomad refused it; until it is tried
		// again the report carries the same error without repeating it.
		r.Class, r.Err = Failed, hit.refused
		e.opts.Emitter.Emit(events.JobRetryLater{Subject: events.Subject{Job: r.ID, Namespace: r.Namespace}, RetryAt: hit.retryAt},
			"plan was refused for this spec and cluster copy; not planned again yet")
		return r
	}
	if stub == nil || hit.unplanned {
		return nil
	}
	r.Warnings = hit.warnings
	// job.in_sync is a debug line; a quiet cycle of a thousand jobs
	// should not build a thousand loggers to drop it.
	if e.opts.Logger.GetLevel() <= zerolog.DebugLevel {
		e.emitClass(jobSubject(r), r)
	}
	return r
}

func inputOf(f *jobs.File, commit string, stub *api.JobListStub) memoInput {
	in := memoInput{fingerprint: f.Fingerprint, commit: commit, path: f.Path}
	if stub != nil {
		in.modifyIndex, in.stop, in.dead = stub.JobModifyIndex, stub.Stop, stub.Status == "dead"
	}
	return in
}

// applied is the input a job has once the engine registered it: its spec
// at the modify index the register returned, running (not stopped, not
// dead). If Nomad kept the old modify index (a register that changed no
// part of the spec), the stub will not match and the job is planned once
// more: the memo can miss, never hit wrongly.
func appliedInput(in memoInput, modifyIndex uint64) memoInput {
	in.modifyIndex, in.stop, in.dead = modifyIndex, false, false
	return in
}

// lookup returns the remembered plan for key if it was made with in.
func (m *planMemo) lookup(key jobs.Key, in memoInput) (memoEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	return e, ok && e.in == in
}

// record remembers r's plan when it may be reused, and forgets key's entry
// otherwise, so a job that is not in sync is always planned.
func (m *planMemo) record(key jobs.Key, in memoInput, r *JobResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.entries[key]; ok && prev.unplanned && prev.in == in && placed(r) {
		// The first plan of a job registered unplanned, and nothing
		// changed since the register: allocations it still shows to
		// place are the register's own evaluation at work.
		m.put(key, memoEntry{in: in, warnings: r.Warnings})
		return
	}
	if !memoizable(r) {
		delete(m.entries, key)
		return
	}
	m.put(key, memoEntry{in: in, warnings: r.Warnings})
}

// recordApplied remembers a register: the job is in sync at in. A
// register made without a plan is remembered as needing one.
func (m *planMemo) recordApplied(key jobs.Key, in memoInput, warnings string, unplanned bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(key, memoEntry{in: in, warnings: warnings, unplanned: unplanned})
}

// recordRefused remembers a plan Nomad refused with in, and returns when it
// may be tried again: the backoff grows while the same input keeps being
// refused and starts over for a new one.
func (m *planMemo) recordRefused(key jobs.Key, in memoInput, err error, now time.Time, backoff func(int) time.Duration) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	attempts := 1
	if prev, ok := m.entries[key]; ok && prev.refused != nil && prev.in == in {
		attempts = prev.attempts + 1
	}
	retryAt := now.Add(backoff(attempts))
	m.put(key, memoEntry{in: in, refused: err, attempts: attempts, retryAt: retryAt})
	return retryAt
}

// placed: a plan that found the job in sync with every allocation placed
// or placeable.
func placed(r *JobResult) bool {
	return r.Class == InSync && r.Err == nil && len(r.PlacementFailures) == 0
}

// memoizable: only a plan that found nothing at all to do. An in-sync job
// whose plan would place, stop or update allocations, or could not place
// them, says something about the cluster the stub does not show, and must
// be planned (and reported) again.
func memoizable(r *JobResult) bool {
	if r.Class != InSync || r.Err != nil || len(r.PlacementFailures) > 0 {
		return false
	}
	for _, g := range r.Groups {
		if g != (GroupCounts{}) {
			return false
		}
	}
	return true
}

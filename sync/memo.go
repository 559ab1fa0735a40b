package sync

import (
	gosync "sync"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// planMemo remembers, per job, the inputs of the last plan that found the
// job in sync with nothing for the scheduler to do. A plan is a pure
// function of the job drover would submit and the cluster's copy of it;
// when neither changed, planning again can only say "in sync" again, so the
// engine skips the call. That makes a quiet cycle cost one job list instead
// of one plan per job.
//
// The cluster side is the job list stub: any write to the job (a hand
// `nomad job run`, a scale, a stop, a revert) bumps JobModifyIndex, and a
// job that dies or is stopped changes Status or Stop. The git side is the
// fingerprint of the parsed spec plus the ownership meta drover stamps
// (commit and path); the instance is fixed per engine.
//
// What the memo cannot see is the scheduler's view of a job that did not
// change: an allocation that failed and needs replacing, or a placement that
// could not be made. Those plans are never memoized (see memoizable), and
// the stub's Status moving (running → pending/dead) re-plans the job too.
type planMemo struct {
	mu      gosync.Mutex
	entries map[jobs.Key]memoEntry
}

// memoInput is everything a plan's verdict depends on.
type memoInput struct {
	fingerprint string
	commit      string
	path        string
	modifyIndex uint64
	status      string
	stop        bool
}

// memoEntry is a remembered in-sync plan: its inputs and the parts of its
// result a report shows for an in-sync job.
type memoEntry struct {
	in       memoInput
	warnings string
}

// fromMemo returns the in-sync result of a job whose last plan, made with
// the same inputs, found nothing to do; nil when the job must be planned.
func (e *Engine) fromMemo(f *jobs.File, revision string, stub *api.JobListStub) *JobResult {
	if e.opts.PlanAlways || stub == nil {
		return nil
	}
	owner, owned := jobs.OwnershipOf(stub.Meta, e.opts.Instance)
	r := &JobResult{Key: f.Key(), Path: f.Path, Commit: commitFor(f, revision, owner, owned), Class: InSync,
		Fingerprint: f.Fingerprint, Hold: f.Hold}
	if owned {
		r.AppliedCommit = owner.Commit
	}
	hit, ok := e.memo.lookup(r.Key, inputOf(f, r.Commit, stub))
	if !ok {
		return nil
	}
	r.Warnings = hit.warnings
	// job.in_sync is a debug line; a quiet cycle of a thousand jobs
	// should not build a thousand loggers to drop it.
	if e.opts.Logger.GetLevel() <= zerolog.DebugLevel {
		e.logClass(e.jobLogger(r), r)
	}
	return r
}

func inputOf(f *jobs.File, commit string, stub *api.JobListStub) memoInput {
	in := memoInput{fingerprint: f.Fingerprint, commit: commit, path: f.Path}
	if stub != nil {
		in.modifyIndex, in.status, in.stop = stub.JobModifyIndex, stub.Status, stub.Stop
	}
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
	if !memoizable(r) {
		delete(m.entries, key)
		return
	}
	if m.entries == nil {
		m.entries = map[jobs.Key]memoEntry{}
	}
	m.entries[key] = memoEntry{in: in, warnings: r.Warnings}
}

func (m *planMemo) forget(key jobs.Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
}

// retain drops the entries of jobs git no longer has, so the memo never
// outgrows the repository.
func (m *planMemo) retain(keep map[jobs.Key]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.entries {
		if !keep[k] {
			delete(m.entries, k)
		}
	}
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

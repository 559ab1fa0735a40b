package rollout

import (
	"context"
	"errors"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/health"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/state"
	"github.com/hashicorp/nomad/api"
)

// Record takes a cycle's report: every job it registered starts a watched
// rollout, and each rollback Pin asked for is logged as applied or failed.
func (m *Manager) Record(ctx context.Context, report *reconcile.Report) {
	m.mu.Lock()
	pins := m.pins
	m.mu.Unlock()
	for _, r := range report.Jobs {
		if r.Err != nil && r.Namespace == "" {
			continue // a file that never became a job
		}
		p, pinned := pins[r.Key]
		switch {
		case r.Applied != nil:
			m.applied(ctx, r, p, pinned)
		case pinned && p.to != "" && r.Err != nil:
			m.opts.Emitter.Emit(events.RollbackFailed{Subject: subject(r.Key, state.Rollout{Revision: state.Revision{Commit: r.Commit}}),
				FromCommit: p.quarantine.Commit, ToCommit: p.to, Error: r.Err.Error()},
				"could not put the last good commit back; will try again next cycle")
			m.record(nil, "failed")
		case pinned && p.to != "" && r.Class == reconcile.InSync:
			m.confirmRollback(ctx, r, p)
		case pinned && p.to != "" && r.Hold != "":
			// A later step held the rollback (a suspension, a window):
			// the failed spec keeps running, and the status says why.
			p.hold = r.Hold
			m.mu.Lock()
			pins[r.Key] = p
			m.mu.Unlock()
		}
	}
}

// applied starts watching a register.
func (m *Manager) applied(ctx context.Context, r *reconcile.JobResult, p pin, pinned bool) {
	now := m.now()
	rev := state.Revision{Commit: r.Commit, Fingerprint: r.Fingerprint, Path: r.Path, Source: r.Source, Version: r.Applied.Version, At: now}
	ro := state.Rollout{Kind: state.Deploy, Revision: rev, Phase: state.Watching, Started: now}
	if pinned && p.to != "" {
		ro.Kind, ro.FromCommit = state.Rollback, p.quarantine.Commit
	}
	// The engine keeps the job as it sent it, not read back: the target
	// is taken from it as Nomad stored it.
	var job *api.Job
	if r.Applied.Job != nil {
		var err error
		if job, err = health.AsRegistered(r.Applied.Job, r.Applied.Version); err != nil {
			m.opts.Emitter.Emit(events.RolloutError{Subject: events.Subject{Job: r.ID}, Error: err.Error()}, "registered job not understood")
		}
	}
	watched := job != nil && health.Watched(job)
	if !watched && job != nil {
		// A batch job runs to completion: there is no health to hold it to.
		ro.Phase, ro.Finished, ro.Reason = state.Healthy, &now, "batch jobs are not watched"
	}
	s, err := m.ledger.Update(ctx, r.Key, func(j *state.Job) {
		j.Applied = &rev
		j.Rollout = &ro
		j.Record(state.HistoryEntry{Commit: rev.Commit, Version: rev.Version, Class: r.Class, Kind: ro.Kind, At: now, Verdict: ro.Phase, Reason: ro.Reason})
		if ro.Kind == state.Rollback {
			j.RolledBack = &state.RolledBack{FromCommit: ro.FromCommit, ToCommit: rev.Commit, Reason: p.quarantine.Reason, At: now}
		}
		if ro.Phase == state.Healthy {
			j.LastGood = &rev
		}
	})
	m.stateError(err)
	about := subject(r.Key, ro)
	if ro.Kind == state.Rollback {
		m.opts.Emitter.Emit(events.RollbackApplied{Subject: about, FromCommit: ro.FromCommit, ToCommit: rev.Commit,
			Reason: p.quarantine.Reason}, "rolled back to the last good commit")
		m.record(nil, "applied")
	}
	if job == nil {
		// The register happened but its version could not be learned:
		// the next cycle plans the job again, and that is all drover can do.
		m.opts.Emitter.Emit(events.RolloutError{Subject: about}, "registered job's version could not be read back; rollout not watched")
		return
	}
	if !watched {
		m.opts.Emitter.Emit(events.RolloutHealthy{Subject: about, Kind: string(ro.Kind), Reason: ro.Reason}, "batch job registered")
		m.released(r.Key)
		return
	}
	target := health.TargetOf(job)
	deadline := ro.Started.Add(m.opts.Policy.Deadline)
	policy := target.PolicyFor(m.opts.Policy)
	ev := events.RolloutStarted{Subject: about, Kind: string(ro.Kind), Services: target.Services,
		Deadline: deadline, FailAfter: policy.FailAfter, StartGrace: policy.StartGrace, Warning: target.FailAfterErr}
	if s != nil && s.LastGood != nil {
		ev.LastGoodCommit = s.LastGood.Commit
	}
	if m.opts.RecordOnly {
		m.opts.Emitter.Emit(ev, "rollout recorded; the agent watches it")
		return
	}
	m.opts.Emitter.Emit(ev, "watching the rollout")
	m.start(r.Key, ro, deadline, func(context.Context) (health.Target, error) { return target, nil })
}

// confirmRollback logs a rollback that needed no register: what runs is
// already the last good spec (Nomad's auto_revert put it back).
func (m *Manager) confirmRollback(ctx context.Context, r *reconcile.JobResult, p pin) {
	s := m.ledger.Get(r.Key)
	if s == nil || (s.RolledBack != nil && s.RolledBack.FromCommit == p.quarantine.Commit) {
		return
	}
	now := m.now()
	_, err := m.ledger.Update(ctx, r.Key, func(j *state.Job) {
		j.RolledBack = &state.RolledBack{FromCommit: p.quarantine.Commit, ToCommit: p.to, Reason: p.quarantine.Reason, At: now, ByNomad: true}
	})
	m.stateError(err)
	m.opts.Emitter.Emit(events.RollbackApplied{Subject: subject(r.Key, state.Rollout{Revision: state.Revision{Commit: p.to}}),
		FromCommit: p.quarantine.Commit, ToCommit: p.to, Reason: p.quarantine.Reason, AppliedBy: "nomad"},
		"the job already runs the last good spec (Nomad's auto_revert put it back); nothing to register")
	m.record(nil, "applied")
}

// start runs a watch, replacing (and stopping) the one the job had. The
// watch is live, and holds its job, from now on; target finds what to
// watch, and may take a while (a resumed watch reads the job from Nomad).
func (m *Manager) start(k jobs.Key, ro state.Rollout, deadline time.Time, target func(context.Context) (health.Target, error)) {
	ctx, cancel := context.WithCancel(m.base)
	w := &watch{rollout: ro, cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	old := m.watches[k]
	m.watches[k] = w
	m.mu.Unlock()
	if old != nil {
		old.cancel()
		m.opts.Emitter.Emit(events.RolloutSuperseded{Subject: subject(k, old.rollout), ByCommit: ro.Commit},
			"a newer register replaced the rollout being watched")
		m.record(&Outcome{Key: k, Rollout: withPhase(old.rollout, state.Superseded)}, "")
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(w.done)
		defer cancel()
		t, err := target(ctx)
		if errors.Is(err, errJobGone) {
			m.finish(k, w, health.Verdict{Phase: state.Superseded, Reason: err.Error()})
			return
		}
		if err != nil {
			return // stopped: superseded, or shutting down with the rollout in flight
		}
		tracker := health.NewTracker(t.PolicyFor(m.opts.Policy), deadline)
		v, err := m.watcher.Watch(ctx, t, tracker, func(v health.Verdict) { m.progress(k, w, v) })
		if err != nil {
			return // stopped: superseded, or shutting down with the rollout in flight
		}
		m.finish(k, w, v)
	}()
}

func withPhase(r state.Rollout, p state.Phase) state.Rollout {
	r.Phase = p
	return r
}

func (m *Manager) stateError(err error) {
	if err != nil {
		m.opts.Emitter.Emit(events.StateError{Error: err.Error()}, "state not written; kept in memory and written again next cycle")
	}
}

// record counts a verdict: a rollout's outcome, or a rollback result.
func (m *Manager) record(o *Outcome, rollback string) {
	if o != nil {
		m.mu.Lock()
		m.outcomes = append(m.outcomes, *o)
		m.mu.Unlock()
	}
	if m.opts.Recorder == nil {
		return
	}
	if o != nil {
		m.opts.Recorder.RolloutFinished(string(o.Rollout.Phase))
	}
	if rollback != "" {
		m.opts.Recorder.RollbackFinished(rollback)
	}
}

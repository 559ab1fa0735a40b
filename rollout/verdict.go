package rollout

import (
	"slices"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/health"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
)

// progress records a watch's phase changes and tells when a source
// becomes unreachable or reachable again.
func (m *Manager) progress(k jobs.Key, w *watch, v health.Verdict) {
	m.mu.Lock()
	prev := w.latest
	w.latest = v
	m.mu.Unlock()
	about := subject(k, w.rollout)
	switch {
	case v.Unreachable != "" && prev.Unreachable == "":
		m.opts.Emitter.Emit(events.RolloutUnreachable{Subject: about, Reason: v.Unreachable},
			"cannot see the rollout's health; still watching, and no rollback on unknown alone")
	case v.Unreachable == "" && prev.Unreachable != "":
		m.opts.Emitter.Emit(events.RolloutReachable{Subject: about}, "health is visible again")
	}
	if v.Final() || v.Phase == prev.Phase {
		return
	}
	switch {
	case v.Phase == state.Baking:
		m.opts.Emitter.Emit(events.RolloutBaking{Subject: about, HealthySince: v.HealthySince, Bake: m.opts.Policy.Bake},
			"rollout healthy; watching it through the bake window")
	case v.Phase == state.Unknown:
		m.opts.Emitter.Emit(events.RolloutUnknown{Subject: about, Kind: string(w.rollout.Kind), Reason: v.Reason,
			RejudgeFor: m.opts.Policy.Unresolved},
			"no verdict: health cannot be seen; nothing rolled back, the commit is not marked good; judged again once it can")
	case prev.Phase == state.Unknown && v.Phase == state.Watching:
		m.opts.Emitter.Emit(events.RolloutRejudged{Subject: about, Deadline: v.Deadline},
			"health is visible again; judging the rollout afresh with a new deadline")
	}
	_, err := m.ledger.Update(m.base, k, func(j *state.Job) {
		if j.Rollout == nil || j.Rollout.Commit != w.rollout.Commit || j.Rollout.Version != w.rollout.Version {
			return // a newer rollout owns the record
		}
		j.Rollout.Phase = v.Phase
		if v.Phase == state.Unknown {
			j.Rollout.Reason = v.Reason
		}
		if !v.HealthySince.IsZero() {
			t := v.HealthySince.UTC()
			j.Rollout.HealthySince = &t
		}
	})
	m.stateError(err)
}

// finish acts on a rollout's verdict.
func (m *Manager) finish(k jobs.Key, w *watch, v health.Verdict) {
	ro := w.rollout
	now := m.now()
	ro.Phase, ro.Reason, ro.Finished = v.Phase, v.Reason, &now
	if !v.HealthySince.IsZero() {
		t := v.HealthySince.UTC()
		ro.HealthySince = &t
	}
	s, err := m.ledger.Update(m.base, k, func(j *state.Job) {
		if j.Rollout != nil && j.Rollout.Commit == ro.Commit && j.Rollout.Version == ro.Version {
			j.Rollout = &ro
		}
		j.Judge(ro.Commit, ro.Version, v.Phase, v.Reason)
		switch {
		case v.Phase == state.Healthy:
			rev := ro.Revision
			j.LastGood = &rev
		case v.Phase == state.Failed && ro.Kind == state.Deploy:
			j.Quarantine(state.Quarantine{Fingerprint: ro.Fingerprint, Commit: ro.Commit, Reason: v.Reason, At: now})
		}
	})
	// Worked out from the state the change produced, not inside it: the
	// ledger may apply a change again, later, on another copy.
	rollback := ""
	if v.Phase == state.Failed && ro.Kind == state.Deploy && !m.opts.NoRollback &&
		s != nil && s.LastGood != nil && s.LastGood.Fingerprint != ro.Fingerprint {
		rollback = s.LastGood.Commit
	}
	m.stateError(err)
	m.mu.Lock()
	if m.watches[k] == w {
		delete(m.watches, k)
	}
	m.mu.Unlock()

	about := subject(k, ro)
	switch v.Phase {
	case state.Healthy:
		m.opts.Emitter.Emit(events.RolloutHealthy{Subject: about, Kind: string(ro.Kind), Reason: v.Reason},
			"rollout healthy through the bake window; its commit is the job's last good commit")
	case state.Unknown:
		// Only an unresolved unknown ends a watch.
		m.opts.Emitter.Emit(events.RolloutUnresolved{Subject: about, Kind: string(ro.Kind), Reason: v.Reason},
			"no verdict could be reached; drover stops watching, and a bad version may be running")
	case state.Superseded:
		m.opts.Emitter.Emit(events.RolloutSuperseded{Subject: about, Reason: v.Reason}, "the watched version was replaced before a verdict")
	case state.Failed:
		m.failed(k, ro, v, s, rollback)
	}
	m.record(&Outcome{Key: k, Rollout: ro}, "")
	if v.Phase == state.Healthy || v.Phase == state.Unknown {
		// An unresolved rollout is not watched any more, so it no
		// longer holds its dependents either.
		m.released(k)
	}
}

func (m *Manager) failed(k jobs.Key, ro state.Rollout, v health.Verdict, s *state.Job, rollbackTo string) {
	about := subject(k, ro)
	ev := events.RolloutFailed{Subject: about, Kind: string(ro.Kind), Reason: v.Reason,
		Problems: slices.Clone(v.Problems), NomadReverted: v.Reverted}
	if ro.Kind == state.Rollback {
		m.opts.Emitter.Emit(ev, "the rollback's own rollout failed")
		m.opts.Emitter.Emit(events.RollbackFailed{Subject: about, FromCommit: ro.FromCommit, ToCommit: ro.Commit,
			Reason: v.Reason}, "the last good commit is not healthy either; nothing more is rolled back")
		m.record(nil, "failed")
		return
	}
	switch {
	case rollbackTo != "":
		ev.RollbackTo = rollbackTo
	case m.opts.NoRollback:
		ev.Rollback = "off (--no-rollback)"
	case s == nil || s.LastGood == nil:
		ev.Rollback = "none: no last good commit"
	default:
		ev.Rollback = "none: the last good commit has the same spec"
	}
	m.opts.Emitter.Emit(ev, "rollout failed")
	m.opts.Emitter.Emit(events.JobQuarantined{Subject: about, Fingerprint: ro.Fingerprint},
		"this spec will not be applied again until git changes the job")
	if rollbackTo != "" {
		m.opts.Trigger("rollback")
	}
}

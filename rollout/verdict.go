package rollout

import (
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
	log := m.logger(k, w.rollout)
	switch {
	case v.Unreachable != "" && prev.Unreachable == "":
		log.Warn().Str("event", "rollout.unreachable").Str("reason", v.Unreachable).
			Msg("cannot see the rollout's health; still watching, and no rollback on unknown alone")
	case v.Unreachable == "" && prev.Unreachable != "":
		log.Info().Str("event", "rollout.reachable").Msg("health is visible again")
	}
	if v.Final() || v.Phase == prev.Phase {
		return
	}
	switch {
	case v.Phase == state.Baking:
		log.Info().Str("event", "rollout.baking").Time("healthy_since", v.HealthySince).
			Str("bake", m.opts.Policy.Bake.String()).Msg("rollout healthy; watching it through the bake window")
	case v.Phase == state.Unknown:
		log.Warn().Str("event", "rollout.unknown").Str("kind", string(w.rollout.Kind)).Str("reason", v.Reason).
			Str("rejudge_for", m.opts.Policy.Unresolved.String()).
			Msg("no verdict: health cannot be seen; nothing rolled back, the commit is not marked good; judged again once it can")
	case prev.Phase == state.Unknown && v.Phase == state.Watching:
		log.Info().Str("event", "rollout.rejudged").Time("deadline", v.Deadline).
			Msg("health is visible again; judging the rollout afresh with a new deadline")
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

	log := m.logger(k, ro)
	switch v.Phase {
	case state.Healthy:
		log.Info().Str("event", "rollout.healthy").Str("kind", string(ro.Kind)).Str("reason", v.Reason).
			Msg("rollout healthy through the bake window; its commit is the job's last good commit")
	case state.Unknown:
		// Only an unresolved unknown ends a watch.
		log.Warn().Str("event", "rollout.unresolved").Str("kind", string(ro.Kind)).Str("reason", v.Reason).
			Msg("no verdict could be reached; drover stops watching, and a bad version may be running")
	case state.Superseded:
		log.Info().Str("event", "rollout.superseded").Str("reason", v.Reason).Msg("the watched version was replaced before a verdict")
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
	log := m.logger(k, ro)
	ev := log.Error().Str("event", "rollout.failed").Str("kind", string(ro.Kind)).Str("reason", v.Reason).
		Interface("problems", v.Problems)
	if v.Reverted != "" {
		ev = ev.Str("nomad_reverted", v.Reverted)
	}
	if ro.Kind == state.Rollback {
		ev.Msg("the rollback's own rollout failed")
		log.Error().Str("event", "rollback.failed").Str("from_commit", ro.FromCommit).Str("to_commit", ro.Commit).
			Str("reason", v.Reason).Msg("the last good commit is not healthy either; nothing more is rolled back")
		m.record(nil, "failed")
		return
	}
	switch {
	case rollbackTo != "":
		ev = ev.Str("rollback_to", rollbackTo)
	case m.opts.NoRollback:
		ev = ev.Str("rollback", "off (--no-rollback)")
	case s == nil || s.LastGood == nil:
		ev = ev.Str("rollback", "none: no last good commit")
	default:
		ev = ev.Str("rollback", "none: the last good commit has the same spec")
	}
	ev.Msg("rollout failed")
	log.Warn().Str("event", "job.quarantined").Str("fingerprint", ro.Fingerprint).
		Msg("this spec will not be applied again until git changes the job")
	if rollbackTo != "" {
		m.opts.Trigger("rollback")
	}
}

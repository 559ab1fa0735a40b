package rollout

import (
	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/state"
)

// Status returns the rollout state of every job drover knows of, for
// /v1/status.
func (m *Manager) Status() []api.JobRollout {
	all := m.ledger.All()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.JobRollout, 0, len(all))
	for _, j := range all {
		k := j.Key()
		// j is the ledger's copy: its records are the schema's types.
		st := api.JobRollout{Job: j.ID, Namespace: j.Namespace, Quarantined: j.Quarantined, RolledBack: j.RolledBack,
			History: j.History}
		if j.LastGood != nil {
			st.LastGoodCommit = j.LastGood.Commit
		}
		if j.Applied != nil {
			st.AppliedCommit = j.Applied.Commit
		}
		w := m.watches[k]
		if r := j.Rollout; r != nil {
			st.Rollout = &api.Rollout{RolloutRecord: *r}
			if w != nil {
				st.Rollout.Waiting, st.Rollout.Unreachable = w.latest.Waiting, w.latest.Unreachable
				if w.latest.Phase != "" && !w.latest.Final() {
					st.Rollout.Phase = w.latest.Phase
				}
			}
		}
		p, pinned := m.pins[k]
		st.Held = p.hold
		st.State = jobState(j, w, p, pinned)
		out = append(out, st)
	}
	return out
}

// jobState is the job's state as its rollouts tell it: one of the
// rollout's words of api.JobState.
func jobState(j *state.Job, w *watch, p pin, pinned bool) api.JobState {
	r := j.Rollout
	switch {
	case w != nil && w.latest.Phase == state.Unknown:
		// Still watched, to be judged again once health can be seen.
		return api.JobUnknown
	case w != nil:
		return api.JobRollingOut
	case r != nil && r.Kind == state.Rollback && r.Phase == state.Failed, pinned && p.failed != "":
		return api.JobRollbackFailed
	case pinned && p.to != "" && p.hold != "":
		// Its rollback is held: the failed spec still runs.
		return api.JobFailed
	case pinned && p.to != "":
		return api.JobRolledBack
	case pinned:
		return api.JobQuarantined
	case r != nil && r.Phase == state.Failed:
		return api.JobFailed
	case r != nil && r.Phase == state.Unknown:
		return api.JobUnknown
	case j.LastGood != nil && j.Applied != nil && j.LastGood.Commit == j.Applied.Commit:
		return api.JobHealthy
	}
	return api.JobUnverified
}

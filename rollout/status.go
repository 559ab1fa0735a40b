package rollout

import (
	"github.com/drover-dev/drover/state"
)

// JobStatus is what /v1/status shows of a job's rollouts.
type JobStatus struct {
	Job       string `json:"job"`
	Namespace string `json:"namespace"`
	// State is one of: rolling_out, healthy, failed (also while its
	// rollback is held, Held saying why), rolled_back,
	// quarantined (failed, nothing to roll back to), rollback_failed,
	// unknown (no verdict: health could not be seen; still judged again
	// until its rollout says "unresolved"), unverified (applied, no
	// verdict yet or superseded).
	State          string             `json:"state"`
	LastGoodCommit string             `json:"last_good_commit,omitempty"`
	AppliedCommit  string             `json:"applied_commit,omitempty"`
	Quarantined    []state.Quarantine `json:"quarantined,omitempty"`
	RolledBack     *state.RolledBack  `json:"rolled_back,omitempty"`
	Held           string             `json:"held,omitempty"`
	Rollout        *RolloutStatus     `json:"rollout,omitempty"`
	// History is what drover applied to the job, oldest first, with each
	// register's verdict.
	History []state.HistoryEntry `json:"history,omitempty"`
}

// RolloutStatus is the newest rollout of a job, and while it is watched,
// what it is waiting for.
type RolloutStatus struct {
	state.Rollout
	Waiting     []string `json:"waiting,omitempty"`
	Unreachable string   `json:"unreachable,omitempty"`
}

// Status returns the rollout state of every job drover knows of.
func (m *Manager) Status() []JobStatus {
	all := m.ledger.All()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]JobStatus, 0, len(all))
	for _, j := range all {
		k := j.Key()
		st := JobStatus{Job: j.ID, Namespace: j.Namespace, Quarantined: j.Quarantined, RolledBack: j.RolledBack, History: j.History}
		if j.LastGood != nil {
			st.LastGoodCommit = j.LastGood.Commit
		}
		if j.Applied != nil {
			st.AppliedCommit = j.Applied.Commit
		}
		if j.Rollout != nil {
			st.Rollout = &RolloutStatus{Rollout: *j.Rollout}
		}
		w := m.watches[k]
		if w != nil && st.Rollout != nil {
			st.Rollout.Waiting, st.Rollout.Unreachable = w.latest.Waiting, w.latest.Unreachable
			if w.latest.Phase != "" && !w.latest.Final() {
				st.Rollout.Phase = w.latest.Phase
			}
		}
		p, pinned := m.pins[k]
		st.Held = p.hold
		st.State = jobState(j, w, p, pinned)
		out = append(out, st)
	}
	return out
}

func jobState(j *state.Job, w *watch, p pin, pinned bool) string {
	r := j.Rollout
	switch {
	case w != nil && w.latest.Phase == state.Unknown:
		// Still watched, to be judged again once health can be seen.
		return "unknown"
	case w != nil:
		return "rolling_out"
	case r != nil && r.Kind == state.Rollback && r.Phase == state.Failed, pinned && p.failed != "":
		return "rollback_failed"
	case pinned && p.to != "" && p.hold != "":
		// Its rollback is held: the failed spec still runs.
		return "failed"
	case pinned && p.to != "":
		return "rolled_back"
	case pinned:
		return "quarantined"
	case r != nil && r.Phase == state.Failed:
		return "failed"
	case r != nil && r.Phase == state.Unknown:
		return "unknown"
	case j.LastGood != nil && j.Applied != nil && j.LastGood.Commit == j.Applied.Commit:
		return "healthy"
	}
	return "unverified"
}

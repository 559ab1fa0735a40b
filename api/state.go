package api

import "strings"

// JobState is a job's state in one word: the one vocabulary the agent,
// the page and the tests use for "how is this job". The rollout's state
// of a job (JobRollout.State) is one of its words; StateOf joins that with
// the report's view of the job.
//
// The states, the ones that need a person first (JobStates keeps this
// order):
//
//	error            the job could not be loaded, planned or applied
//	failed           its rollout failed; its rollback, if any, is held
//	rollback_failed  its rollback failed too
//	rolled_back      its rollout failed and the last good spec runs again
//	quarantined      its rollout failed, with nothing to roll back to
//	held             it differs from git, and was not applied: see why
//	out_of_sync      it differs from git
//	unknown          no verdict: its health could not be seen
//	rolling_out      its rollout is being watched
//	orphan           drover registered it and its file is gone
//	unverified       applied, with no verdict yet (or superseded)
//	in_sync          the cluster runs what git has
//	healthy          in sync, and its rollout was healthy
type JobState string

const (
	JobError          JobState = "error"
	JobFailed         JobState = "failed"
	JobRollbackFailed JobState = "rollback_failed"
	JobRolledBack     JobState = "rolled_back"
	JobQuarantined    JobState = "quarantined"
	JobHeld           JobState = "held"
	JobOutOfSync      JobState = "out_of_sync"
	JobUnknown        JobState = "unknown"
	JobRollingOut     JobState = "rolling_out"
	JobOrphan         JobState = "orphan"
	JobUnverified     JobState = "unverified"
	JobInSync         JobState = "in_sync"
	JobHealthy        JobState = "healthy"
)

// JobStates are every job state, those that need a person first.
func JobStates() []JobState {
	return []JobState{JobError, JobFailed, JobRollbackFailed, JobRolledBack, JobQuarantined, JobHeld,
		JobOutOfSync, JobUnknown, JobRollingOut, JobOrphan, JobUnverified, JobInSync, JobHealthy}
}

// Rank orders states by urgency: 0 is the most urgent; a state this
// version does not know ranks last.
func (s JobState) Rank() int {
	all := JobStates()
	for i, k := range all {
		if k == s {
			return i
		}
	}
	return len(all)
}

// Word is the state as people read it: "rolled back".
func (s JobState) Word() string { return strings.ReplaceAll(string(s), "_", " ") }

// StateOf is a job's one state, from its entry in the last report, its
// rollouts and its orphan entry (each nil when absent): its own error
// first, then a rollout that needs a person or is in flight, then whether
// git and the cluster agree, then the rollout's verdict.
func StateOf(j *Job, ro *JobRollout, orphan *Orphan) JobState {
	switch {
	case j != nil && j.Error != "":
		return JobError
	case ro != nil && ro.State != "" && ro.State != JobHealthy && ro.State != JobUnverified:
		return ro.State
	case orphan != nil && j == nil:
		return JobOrphan
	case j != nil && j.Held != "" && j.Class != ClassInSync:
		// A job in sync may carry a hold (its rollout was in flight): it
		// held nothing back.
		return JobHeld
	case j != nil && j.Class != "" && j.Class != ClassInSync && j.State != SyncApplied:
		return JobOutOfSync
	case ro != nil && ro.State == JobHealthy:
		return JobHealthy
	case j != nil && (j.Class == ClassInSync || j.State == SyncApplied):
		return JobInSync
	case ro != nil:
		return JobUnverified
	}
	return JobUnknown
}

// Class is how a job in git relates to the cluster.
type Class string

const (
	// ClassInSync: the cluster runs what git has, up to drover's own meta.
	ClassInSync Class = "in_sync"
	// ClassCreate: the job is not in the cluster, or was stopped or is dead.
	ClassCreate Class = "create"
	// ClassUpdate: git changed the job's spec since drover applied it.
	ClassUpdate Class = "update"
	// ClassDrift: git did not change the spec, but the cluster differs
	// from it: someone ran, scaled or edited the job by hand.
	ClassDrift Class = "drift"
	// ClassError: the job could not be loaded or planned.
	ClassError Class = "error"
)

// SyncState is what one cycle did about a job: Job.State in a report.
type SyncState string

const (
	// SyncConflict: the register was refused because the job changed
	// after it was planned (check-index).
	SyncConflict SyncState = "conflict"
	// SyncError: the job could not be loaded, planned or applied.
	SyncError SyncState = "error"
	// SyncApplied: the cycle registered the job.
	SyncApplied SyncState = "applied"
	// SyncInSync: nothing to do.
	SyncInSync SyncState = "synced"
	// SyncHeld: it differs, and was not registered: Job.Held says why.
	SyncHeld SyncState = "held"
	// SyncOutOfSync: it differs, and this cycle did not register it (a
	// plan, or an agent with --dry-run).
	SyncOutOfSync SyncState = "out_of_sync"
)

// Phase is where a rollout is: Rollout.Phase, and a history entry's
// verdict.
type Phase string

const (
	// PhaseWatching: registered, not yet healthy for the minimum time.
	PhaseWatching Phase = "watching"
	// PhaseBaking: healthy, being watched for the bake window.
	PhaseBaking Phase = "baking"
	// PhaseHealthy: healthy through the bake window; its commit is last good.
	PhaseHealthy Phase = "healthy"
	// PhaseFailed: the rollout failed; its spec is quarantined.
	PhaseFailed Phase = "failed"
	// PhaseUnknown: no verdict because a source was unreachable or
	// stale. Not final while the rollout has no Finished time: it is
	// judged again once every source answers; it ends when it stays
	// unknown too long.
	PhaseUnknown Phase = "unknown"
	// PhaseSuperseded: another version replaced it before a verdict.
	PhaseSuperseded Phase = "superseded"
)

// InFlight reports whether a rollout in this phase is still being watched.
// An unknown rollout may be too, until it has a Finished time.
func (p Phase) InFlight() bool { return p == PhaseWatching || p == PhaseBaking }

// RolloutKind says why a rollout was started.
type RolloutKind string

const (
	// KindDeploy rolls out what git has.
	KindDeploy RolloutKind = "deploy"
	// KindRollback puts back the last good commit's spec.
	KindRollback RolloutKind = "rollback"
)

// Role is a replica's part in its instance: HA.Role.
type Role string

const (
	// RoleSingle: the agent runs alone (--ha=false).
	RoleSingle Role = "single"
	// RoleLeader: the replica that acts.
	RoleLeader Role = "leader"
	// RoleStandby: a replica ready to take over.
	RoleStandby Role = "standby"
)

package reconcile

import "github.com/drover-dev/drover/api"

// Class is how a job in git relates to the cluster; its words are the
// schema's (api.Class), so the report, the page and the tests share them.
type Class = api.Class

const (
	// InSync: the cluster runs what git has, up to drover's own meta.
	InSync = api.ClassInSync
	// Create: the job is not in the cluster, or was stopped or is dead.
	Create = api.ClassCreate
	// Update: git changed the job's spec since drover applied it.
	Update = api.ClassUpdate
	// Drift: git did not change the spec, but the cluster differs from it:
	// someone ran, scaled or edited the job by hand.
	Drift = api.ClassDrift
	// Failed: the job could not be loaded or planned.
	Failed = api.ClassError
)

// Counts summarises a report.
type Counts = api.Counts

// GroupCounts is what a plan would do to one task group's allocations.
type GroupCounts = api.GroupCounts

// State is a job's outcome in one word, for status pages and scripts.
func (r *JobResult) State() api.SyncState {
	switch {
	case IsConflict(r.Err):
		return api.SyncConflict
	case r.Err != nil:
		return api.SyncError
	case r.Applied != nil:
		return api.SyncApplied
	case r.Class == InSync:
		return api.SyncInSync
	case r.Hold != "":
		return api.SyncHeld
	default:
		return api.SyncOutOfSync
	}
}

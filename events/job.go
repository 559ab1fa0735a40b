package events

import (
	"time"

	"github.com/drover-dev/drover/api"
)

// JobChange is what job.create, job.update and job.drift carry.
type JobChange struct {
	Subject
	AppliedCommit string                     `json:"applied_commit" doc:"the commit drover last registered for the job"`
	Changes       []string                   `json:"changes" doc:"the plan's changes, one per field"`
	Groups        map[string]api.GroupCounts `json:"groups,omitempty" doc:"per task group: allocations placed, stopped, updated in place or destructively, canaries"`
}

// JobCreate: git has a job the cluster does not run.
type JobCreate struct{ JobChange }

// JobUpdate: git changed a job since drover last registered it.
type JobUpdate struct{ JobChange }

// JobDrift: the cluster's copy of a job differs from git's.
type JobDrift struct{ JobChange }

// JobInSync: a job matches git.
type JobInSync struct{ Subject }

// JobApplied: a job's spec was registered.
type JobApplied struct {
	Subject
	Class       string `json:"class" doc:"why it was registered: create, update or drift"`
	EvalID      string `json:"eval_id" doc:"the evaluation Nomad created"`
	ModifyIndex uint64 `json:"modify_index" doc:"the job's modify index after the register"`
}

// JobError: a job was not deployed.
type JobError struct {
	Subject
	Line    int       `json:"line,omitempty" doc:"the line of the job file a parse error is on"`
	RetryAt time.Time `json:"retry_at,omitempty" doc:"when a refused plan is tried again"`
	Error   string    `json:"error" doc:"what failed"`
}

// JobConflict: the job changed in Nomad after it was planned.
type JobConflict struct {
	Subject
	PlannedIndex uint64 `json:"planned_index" doc:"the job modify index the plan was made against"`
	Error        string `json:"error" doc:"Nomad's refusal"`
}

// JobHeld: a job differs but is held back.
type JobHeld struct {
	Subject
	Reason string `json:"reason" doc:"what holds it (a dependency, a suspension, a quarantine)"`
}

// JobOrphan: a job drover registered has lost its file.
type JobOrphan struct {
	Subject
	Prune        bool   `json:"prune" doc:"whether pruning is on"`
	PruneBlocked string `json:"prune_blocked,omitempty" doc:"why it is not pruned this cycle"`
}

// JobPruned: an orphan was stopped.
type JobPruned struct {
	Subject
	EvalID string `json:"eval_id" doc:"the evaluation Nomad created"`
}

// JobSkipped: a file was not read as a job.
type JobSkipped struct {
	Path   string `json:"path" doc:"the file"`
	Reason string `json:"reason" doc:"why it was skipped"`
	Commit string `json:"commit" doc:"the commit read"`
}

// JobPlacementFailed: the scheduler could not place a group.
type JobPlacementFailed struct {
	Subject
	Group              string         `json:"group" doc:"the task group"`
	NodesEvaluated     int            `json:"nodes_evaluated" doc:"nodes the scheduler looked at"`
	NodesFiltered      int            `json:"nodes_filtered" doc:"nodes filtered out"`
	DimensionExhausted map[string]int `json:"dimension_exhausted" doc:"resources that ran out, and on how many nodes"`
	ConstraintFiltered map[string]int `json:"constraint_filtered" doc:"constraints that filtered nodes, and how many"`
}

// JobCountIgnored: a group's count differs where the autoscaler owns it.
type JobCountIgnored struct {
	Subject
	Group        string `json:"group" doc:"the task group"`
	GitCount     int    `json:"git_count" doc:"the count in git"`
	ClusterCount int    `json:"cluster_count" doc:"the count running"`
}

// JobIgnoredDiff: fields listed in drover.ignore differ.
type JobIgnoredDiff struct {
	Subject
	Fields []string `json:"fields" doc:"the fields left alone"`
}

// JobRetryLater: a refused plan is not tried again yet.
type JobRetryLater struct {
	Subject
	RetryAt time.Time `json:"retry_at" doc:"when it is planned again"`
}

// JobQuarantined: a failed spec will not be applied again.
type JobQuarantined struct {
	Subject
	Fingerprint string `json:"fingerprint" doc:"the quarantined spec's fingerprint"`
}

package events

import (
	"time"

	"github.com/drover-dev/drover/api"
)

// RolloutStarted: a registered version is being watched.
type RolloutStarted struct {
	Subject
	Kind           string        `json:"kind" doc:"deploy or rollback"`
	Services       []string      `json:"services" doc:"the Consul services whose checks are watched"`
	Deadline       time.Time     `json:"deadline" doc:"when the rollout fails if not healthy"`
	FailAfter      time.Duration `json:"fail_after" doc:"how long a check may fail before the rollout does"`
	StartGrace     time.Duration `json:"start_grace" doc:"how long new allocations may take to start"`
	Warning        string        `json:"warning,omitempty" doc:"a drover.fail_after meta that could not be read"`
	LastGoodCommit string        `json:"last_good_commit,omitempty" doc:"the commit a failure rolls back to"`
}

// RolloutResumed: an agent picks up a rollout a previous one started.
type RolloutResumed struct {
	Subject
	Kind     string    `json:"kind" doc:"deploy or rollback"`
	Phase    string    `json:"phase" doc:"the phase it was in"`
	Deadline time.Time `json:"deadline" doc:"when it fails if not healthy"`
}

// RolloutBaking: the rollout is healthy and watched through the bake window.
type RolloutBaking struct {
	Subject
	HealthySince time.Time     `json:"healthy_since" doc:"when it became healthy"`
	Bake         time.Duration `json:"bake" doc:"how long it must stay healthy"`
}

// RolloutHealthy: healthy through the bake window; the commit is the
// job's last good one.
type RolloutHealthy struct {
	Subject
	Kind   string `json:"kind" doc:"deploy or rollback"`
	Reason string `json:"reason" doc:"what made it healthy"`
}

// RolloutFailed: the rollout failed its checks or its deadline.
type RolloutFailed struct {
	Subject
	Kind          string        `json:"kind" doc:"deploy or rollback"`
	Reason        string        `json:"reason" doc:"why it failed"`
	Problems      []api.Problem `json:"problems" doc:"the failing checks, allocations and tasks, with output and task events"`
	NomadReverted string        `json:"nomad_reverted,omitempty" doc:"the version Nomad's auto_revert put back"`
	RollbackTo    string        `json:"rollback_to,omitempty" doc:"the last good commit drover rolls back to"`
	Rollback      string        `json:"rollback,omitempty" doc:"why nothing is rolled back"`
}

// RolloutUnknown: health cannot be seen; no verdict yet.
type RolloutUnknown struct {
	Subject
	Kind       string        `json:"kind" doc:"deploy or rollback"`
	Reason     string        `json:"reason" doc:"what cannot be seen"`
	RejudgeFor time.Duration `json:"rejudge_for" doc:"how long it is judged again before it is unresolved"`
}

// RolloutUnresolved: no verdict could be reached; the watch ends.
type RolloutUnresolved struct {
	Subject
	Kind   string `json:"kind" doc:"deploy or rollback"`
	Reason string `json:"reason" doc:"why"`
}

// RolloutRejudged: health is visible again after an unknown.
type RolloutRejudged struct {
	Subject
	Deadline time.Time `json:"deadline" doc:"the new deadline"`
}

// RolloutSuperseded: the watched version was replaced before a verdict.
type RolloutSuperseded struct {
	Subject
	Reason   string `json:"reason,omitempty" doc:"what replaced it"`
	ByCommit string `json:"by_commit,omitempty" doc:"the commit drover registered over it"`
}

// RolloutUnreachable: the rollout's health cannot be seen.
type RolloutUnreachable struct {
	Subject
	Reason string `json:"reason" doc:"what cannot be reached"`
}

// RolloutReachable: health is visible again.
type RolloutReachable struct{ Subject }

// RolloutError: a rollout could not be watched or read.
type RolloutError struct {
	Subject
	Error   string        `json:"error,omitempty" doc:"what failed"`
	RetryIn time.Duration `json:"retry_in,omitempty" doc:"when it is tried again"`
}

// RollbackApplied: the job is back on its last good commit.
type RollbackApplied struct {
	Subject
	FromCommit string `json:"from_commit" doc:"the failed commit"`
	ToCommit   string `json:"to_commit" doc:"the last good commit"`
	Reason     string `json:"reason" doc:"why the failed commit was rolled back"`
	AppliedBy  string `json:"applied_by,omitempty" doc:"nomad when Nomad's auto_revert had already done it"`
}

// RollbackFailed: the last good commit could not be put back, or failed too.
type RollbackFailed struct {
	Subject
	FromCommit string `json:"from_commit" doc:"the failed commit"`
	ToCommit   string `json:"to_commit" doc:"the last good commit"`
	Reason     string `json:"reason,omitempty" doc:"why"`
	Error      string `json:"error,omitempty" doc:"what failed"`
}

// StateError: the rollout state in Consul could not be read or written.
type StateError struct {
	Error string `json:"error" doc:"what failed"`
}

// StateConflict: a state key was changed in Consul by someone else.
type StateConflict struct {
	Subject
	Key       string `json:"key" doc:"the Consul key"`
	Deleted   bool   `json:"deleted" doc:"whether it was deleted"`
	Reapplied int    `json:"reapplied" doc:"how many of drover's changes were applied on top"`
}

// StateInvalid: a state key cannot be used; its job is held.
type StateInvalid struct {
	Key       string `json:"key" doc:"the Consul key"`
	Job       string `json:"job,omitempty" doc:"its job, when known"`
	Namespace string `json:"namespace,omitempty" doc:"its namespace, when known"`
	Error     string `json:"error" doc:"what is wrong with it"`
}

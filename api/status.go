// Package api is the schema of what the agent serves: the GET /v1/status
// document and the vocabularies of job state in it. The server builds it,
// the web page, the e2e tests and scripts read it, and `drover plan --json`
// prints its report. It imports nothing of drover's, so every layer can
// use it; the JSON it gives is a published contract (see the README), and
// agent's golden test fails when it changes. The rollout records
// (RolloutRecord, Revision, Quarantine, RolledBack, HistoryEntry) are also
// what package state keeps in Consul: their JSON is the KV format too, and
// state's round-trip tests fail when it changes.
package api

import (
	"fmt"
	"strings"
	"time"
)

// Status is the GET /v1/status document.
type Status struct {
	// Agent describes the agent's configuration, for people: repo,
	// interval, what is enabled.
	Agent  map[string]string `json:"agent"`
	Commit string            `json:"commit,omitempty"`
	// CommitInfo is the commit's subject, author and time.
	CommitInfo *CommitInfo `json:"commit_info,omitempty"`
	// Cycles counts the cycles this agent finished since it started,
	// whatever their outcome; it only grows. A client that read n sees a
	// cycle finish after its read once Cycles > n, and one that also
	// started after its read once Cycles > n+1 (> n when LastSync.Running
	// was false). A standby shows the leader's.
	Cycles      uint64     `json:"cycles"`
	LastSync    LastSync   `json:"last_sync"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// Report is the last cycle's report that got as far as syncing.
	Report *Report `json:"report,omitempty"`
	// Rollouts is each job's rollout state: last good commit, quarantine,
	// the rollout being watched.
	Rollouts []JobRollout `json:"rollouts,omitempty"`
	// HA is this replica's role and the leader.
	HA *HA `json:"ha,omitempty"`
	// Controls are the suspensions and windows.
	Controls *Controls `json:"controls,omitempty"`
}

// LastSync is the last cycle, or the one in flight.
type LastSync struct {
	Started    *time.Time `json:"started,omitempty"`
	Finished   *time.Time `json:"finished,omitempty"`
	DurationMS int64      `json:"duration_ms"`
	Running    bool       `json:"running"`
	// Step is where the cycle in flight is, while one runs: fetch, load,
	// state, pin, control, sync, record.
	Step string `json:"step,omitempty"`
	// Stuck says the cycle in flight has gone past its step's budget
	// without progress.
	Stuck      bool   `json:"stuck,omitempty"`
	OK         bool   `json:"ok"`
	FailedStep string `json:"failed_step,omitempty"`
	// Kind is transient, stalled or interrupted for a failed cycle.
	Kind  string `json:"kind,omitempty"`
	Error string `json:"error,omitempty"`
}

// CommitInfo describes a commit for people.
type CommitInfo struct {
	// Subject is the first line of the commit message.
	Subject string    `json:"subject"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
}

// Report is one cycle's outcome; also what `drover plan --json` prints.
type Report struct {
	Revision     string      `json:"revision,omitempty"`
	Commit       *CommitInfo `json:"commit_info,omitempty"`
	Counts       Counts      `json:"counts"`
	Jobs         []Job       `json:"jobs"`
	Orphans      []Orphan    `json:"orphans"`
	PruneBlocked string      `json:"prune_blocked,omitempty"`
	// Sources is what each source gave, with many sources (--config).
	Sources    []Source `json:"sources,omitempty"`
	DurationMS int64    `json:"duration_ms"`
}

// Counts summarises a report.
type Counts struct {
	InSync    int `json:"in_sync"`
	Create    int `json:"create"`
	Update    int `json:"update"`
	Drift     int `json:"drift"`
	Orphans   int `json:"orphans"`
	Pruned    int `json:"pruned"`
	Applied   int `json:"applied"`
	Conflicts int `json:"conflicts"`
	Errors    int `json:"errors"`
	// Planned is how many jobs were planned; the others were known to be
	// in sync from an earlier plan.
	Planned int `json:"planned"`
}

// Job is one job file of a report: how git and the cluster relate, and
// what the cycle did about it.
type Job struct {
	// Job is empty for a file that never became a job.
	Job       string `json:"job,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Path      string `json:"path"`
	// Source names the job's source with many sources.
	Source string    `json:"source,omitempty"`
	Class  Class     `json:"class"`
	State  SyncState `json:"state"`
	// Commit is the commit the job carries once in sync; AppliedCommit
	// the one the cluster's copy had before the cycle.
	Commit        string   `json:"commit,omitempty"`
	AppliedCommit string   `json:"applied_commit,omitempty"`
	Changes       []string `json:"changes,omitempty"`
	// Groups is what the plan would do to each task group's allocations.
	Groups            map[string]GroupCounts `json:"groups,omitempty"`
	PlacementFailures []string               `json:"placement_failures,omitempty"`
	// Held is why the job was not registered although it differs.
	Held      string   `json:"held,omitempty"`
	DependsOn []string `json:"depends_on,omitempty"`
	Applied   *Applied `json:"applied,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// GroupCounts is what a plan would do to one task group's allocations.
type GroupCounts struct {
	Place       uint64 `json:"place"`
	Stop        uint64 `json:"stop"`
	InPlace     uint64 `json:"in_place"`
	Destructive uint64 `json:"destructive"`
	Canary      uint64 `json:"canary"`
}

// String renders counts the way `nomad job plan` does: "1 create, 2 in-place update".
func (c GroupCounts) String() string {
	var parts []string
	add := func(n uint64, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.Place, "create")
	add(c.Destructive, "create/destroy update")
	add(c.InPlace, "in-place update")
	add(c.Stop, "destroy")
	add(c.Canary, "canary")
	return strings.Join(parts, ", ")
}

// Applied is the register a cycle made of a job.
type Applied struct {
	EvalID      string `json:"eval_id"`
	Version     uint64 `json:"version"`
	ModifyIndex uint64 `json:"modify_index"`
}

// Orphan is a job drover registered whose file is gone from git.
type Orphan struct {
	Job       string `json:"job"`
	Namespace string `json:"namespace"`
	Path      string `json:"path,omitempty"`
	Commit    string `json:"commit,omitempty"`
	Source    string `json:"source,omitempty"`
	Pruned    bool   `json:"pruned"`
	// PruneBlocked says why this orphan is kept although pruning is on.
	PruneBlocked string `json:"prune_blocked,omitempty"`
	EvalID       string `json:"eval_id,omitempty"`
	Error        string `json:"error,omitempty"`
}

// Source is one source of a report with many sources.
type Source struct {
	Name     string      `json:"name"`
	Revision string      `json:"revision,omitempty"`
	Commit   *CommitInfo `json:"commit_info,omitempty"`
	Prune    bool        `json:"prune"`
	Error    string      `json:"error,omitempty"`
}

// JobRollout is what drover knows of one job's rollouts.
type JobRollout struct {
	Job            string       `json:"job"`
	Namespace      string       `json:"namespace"`
	State          JobState     `json:"state"`
	LastGoodCommit string       `json:"last_good_commit,omitempty"`
	AppliedCommit  string       `json:"applied_commit,omitempty"`
	Quarantined    []Quarantine `json:"quarantined,omitempty"`
	RolledBack     *RolledBack  `json:"rolled_back,omitempty"`
	// Held is why the job's rollback is held, while its state is failed.
	Held    string   `json:"held,omitempty"`
	Rollout *Rollout `json:"rollout,omitempty"`
	// History is what drover applied to the job, oldest first, with each
	// register's verdict.
	History []HistoryEntry `json:"history,omitempty"`
}

// Quarantine is a spec whose rollout failed: drover does not apply it again.
type Quarantine struct {
	Fingerprint string    `json:"fingerprint"`
	Commit      string    `json:"commit"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
}

// RolledBack is a job's newest rollback.
type RolledBack struct {
	FromCommit string    `json:"from_commit"`
	ToCommit   string    `json:"to_commit"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	// ByNomad is set when Nomad's auto_revert had put the last good spec
	// back and drover registered nothing.
	ByNomad bool `json:"by_nomad,omitempty"`
}

// Rollout is a job's newest rollout, and while it is watched what it is
// waiting for.
type Rollout struct {
	RolloutRecord
	Waiting     []string `json:"waiting,omitempty"`
	Unreachable string   `json:"unreachable,omitempty"`
}

// RolloutRecord is one watched register of a job, as drover keeps it in
// Consul (state.Rollout) and shows it.
type RolloutRecord struct {
	Kind RolloutKind `json:"kind"`
	Revision
	// FromCommit is, for a rollback, the commit whose rollout failed.
	FromCommit string    `json:"from_commit,omitempty"`
	Phase      Phase     `json:"phase"`
	Started    time.Time `json:"started"`
	// HealthySince is when the rollout last became healthy.
	HealthySince *time.Time `json:"healthy_since,omitempty"`
	Finished     *time.Time `json:"finished,omitempty"`
	// Reason explains a failed, unknown or superseded verdict.
	Reason string `json:"reason,omitempty"`
}

// InFlight reports whether the rollout still awaits a verdict, so a
// restarted agent resumes its watch: watching, baking, or unknown without
// a final verdict.
func (r *RolloutRecord) InFlight() bool {
	if r == nil {
		return false
	}
	return r.Phase.InFlight() || (r.Phase == PhaseUnknown && r.Finished == nil)
}

// Revision is one spec of a job as git had it.
type Revision struct {
	Commit      string `json:"commit"`
	Fingerprint string `json:"fingerprint"`
	Path        string `json:"path"`
	// Source names the source Path is in, with many sources (--config):
	// a rollback reads the spec from that source's repo.
	Source string `json:"source,omitempty"`
	// Version is the Nomad job version the register produced.
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
}

// HistoryEntry is one register drover made of a job, and its verdict.
type HistoryEntry struct {
	Commit  string `json:"commit"`
	Version uint64 `json:"version"`
	// Class is the class that made drover register: create, update, drift.
	Class   Class       `json:"class,omitempty"`
	Kind    RolloutKind `json:"kind"`
	At      time.Time   `json:"at"`
	Verdict Phase       `json:"verdict"`
	Reason  string      `json:"reason,omitempty"`
}

// HA is the replica's role and the leader.
type HA struct {
	// Role is single, leader or standby.
	Role   Role    `json:"role"`
	ID     string  `json:"id,omitempty"`
	Leader *Holder `json:"leader"`
	Error  string  `json:"error,omitempty"`
}

// Holder is the replica that leads.
type Holder struct {
	Instance  string    `json:"instance"`
	ID        string    `json:"id"`
	Advertise string    `json:"advertise"`
	Since     time.Time `json:"since"`
}

// Controls are the operator's suspensions and the windows.
type Controls struct {
	Suspensions Suspensions `json:"suspensions"`
	// Held is why nothing new is applied now because of a window, with
	// until when.
	Held    string     `json:"held,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
	Windows []Window   `json:"windows,omitempty"`
}

// Suspensions are the instance's suspension, if any, and each suspended
// job's, by "namespace/name".
type Suspensions struct {
	Instance *Suspension           `json:"instance,omitempty"`
	Jobs     map[string]Suspension `json:"jobs,omitempty"`
}

// Suspension is who suspended something, when and why.
type Suspension struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Window is one deny or allow window.
type Window struct {
	Kind string `json:"kind"`
	Spec string `json:"spec"`
	Open bool   `json:"open"`
	// Ends is when the open window closes; NextOpen when it next opens.
	Ends     *time.Time `json:"ends,omitempty"`
	NextOpen *time.Time `json:"next_open,omitempty"`
}

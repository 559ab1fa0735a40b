// Package state is what drover remembers about each job between cycles and
// across restarts: the commit that last rolled out healthy, the commit it
// applied last, the specs it quarantined after a failed rollout, and the
// rollout in flight. It is kept in a key/value store (Consul KV in
// production) under one prefix per drover instance.
package state

import (
	"slices"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/jobs"
)

// Revision is one spec of a job as git had it: the schema's type, kept
// in Consul as /v1/status shows it.
type Revision = api.Revision

// Quarantine is a spec whose rollout failed: drover does not apply it
// again. What is kept in Consul is what /v1/status shows, so it is the
// schema's type; the JSON is both the KV format and the API's.
type Quarantine = api.Quarantine

// Phase is where a rollout is; its words are the schema's (api.Phase),
// kept here and shown on /v1/status alike.
type Phase = api.Phase

const (
	// Watching: registered, not yet healthy for the minimum time.
	Watching = api.PhaseWatching
	// Baking: healthy, being watched for the bake window.
	Baking = api.PhaseBaking
	// Healthy: healthy through the bake window; its commit is last good.
	Healthy = api.PhaseHealthy
	// Failed: the rollout failed; its spec is quarantined.
	Failed = api.PhaseFailed
	// Unknown: no verdict because a source was unreachable or stale. Not
	// final while Finished is nil: the rollout is judged again once every
	// source answers; it ends (Finished set) when it stays unknown too long.
	Unknown = api.PhaseUnknown
	// Superseded: another version replaced it before a verdict.
	Superseded = api.PhaseSuperseded
)

// Kind says why a rollout was started.
type Kind = api.RolloutKind

const (
	// Deploy rolls out what git has.
	Deploy = api.KindDeploy
	// Rollback puts back the last good commit's spec.
	Rollback = api.KindRollback
)

// Rollout is one watched register of a job, kept in Consul as /v1/status
// shows it (without what the live watch adds): the schema's type.
type Rollout = api.RolloutRecord

// Job is everything drover remembers about one job.
type Job struct {
	Namespace string `json:"namespace"`
	ID        string `json:"id"`
	// LastGood is the newest revision whose rollout was healthy through
	// the bake window.
	LastGood *Revision `json:"last_good,omitempty"`
	// Applied is the newest revision drover registered.
	Applied     *Revision    `json:"applied,omitempty"`
	Quarantined []Quarantine `json:"quarantined,omitempty"`
	Rollout     *Rollout     `json:"rollout,omitempty"`
	// RolledBack is the newest rollback: what runs is LastGood's spec
	// because FromCommit's rollout failed.
	RolledBack *RolledBack `json:"rolled_back,omitempty"`
	// History is what drover applied to the job, oldest first, the last
	// maxHistory registers.
	History []HistoryEntry `json:"history,omitempty"`
}

// HistoryEntry is one register drover made of a job, and its verdict
// (the rollout's phase: watching until it is judged). Kept in Consul as
// /v1/status shows it: the schema's type.
type HistoryEntry = api.HistoryEntry

// maxHistory bounds a job's history; the oldest entries go first.
const maxHistory = 20

// Record upserts a register into the history by (commit, version), so a
// change applied twice records it once. Only one rollout of a job is
// watched: an earlier register still awaiting its verdict is superseded.
func (j *Job) Record(a HistoryEntry) {
	found := false
	for i := range j.History {
		h := &j.History[i]
		switch {
		case h.Commit == a.Commit && h.Version == a.Version:
			*h, found = a, true
		case h.Verdict.InFlight():
			h.Verdict, h.Reason = Superseded, "a newer register replaced it before a verdict"
		}
	}
	if found {
		return
	}
	j.History = append(j.History, a)
	if n := len(j.History); n > maxHistory {
		j.History = j.History[n-maxHistory:]
	}
}

// Judge sets the verdict of the register (commit, version), if the
// history still holds it.
func (j *Job) Judge(commit string, version uint64, verdict Phase, reason string) {
	for i := range j.History {
		if h := &j.History[i]; h.Commit == commit && h.Version == version {
			h.Verdict, h.Reason = verdict, reason
		}
	}
}

// RolledBack records a rollback. Kept in Consul as /v1/status shows it:
// the schema's type.
type RolledBack = api.RolledBack

// maxQuarantined bounds the quarantine list; the oldest entries go first.
const maxQuarantined = 20

// Key is the job's key.
func (j *Job) Key() jobs.Key { return jobs.Key{Namespace: j.Namespace, ID: j.ID} }

// QuarantineOf returns the quarantine of the spec with fingerprint fp.
func (j *Job) QuarantineOf(fp string) (Quarantine, bool) {
	if j == nil {
		return Quarantine{}, false
	}
	for _, q := range j.Quarantined {
		if q.Fingerprint == fp {
			return q, true
		}
	}
	return Quarantine{}, false
}

// Quarantine records fp as a spec never to apply again, unless a newer
// quarantine of the same spec replaces it.
func (j *Job) Quarantine(q Quarantine) {
	j.Quarantined = slices.DeleteFunc(j.Quarantined, func(o Quarantine) bool { return o.Fingerprint == q.Fingerprint })
	j.Quarantined = append(j.Quarantined, q)
	if n := len(j.Quarantined); n > maxQuarantined {
		j.Quarantined = j.Quarantined[n-maxQuarantined:]
	}
}

// Clone returns a deep copy, so a reader never sees a writer's change.
func (j *Job) Clone() *Job {
	if j == nil {
		return nil
	}
	c := *j
	c.LastGood = clonePtr(j.LastGood)
	c.Applied = clonePtr(j.Applied)
	c.Quarantined = slices.Clone(j.Quarantined)
	if j.Rollout != nil {
		r := *j.Rollout
		r.HealthySince = clonePtr(r.HealthySince)
		r.Finished = clonePtr(r.Finished)
		c.Rollout = &r
	}
	c.RolledBack = clonePtr(j.RolledBack)
	c.History = slices.Clone(j.History)
	return &c
}

// clonePtr is a pointer to a copy of *p, or nil for nil: one level deep,
// for the value types Job points to.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

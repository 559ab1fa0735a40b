package reconcile

import (
	"encoding/json"

	"github.com/drover-dev/drover/jobs"
)

// State is a job's outcome in one word, for status pages and scripts.
func (r *JobResult) State() string {
	switch {
	case IsConflict(r.Err):
		return "conflict"
	case r.Err != nil:
		return "error"
	case r.Applied != nil:
		return "applied"
	case r.Class == InSync:
		return "synced"
	case r.Hold != "":
		return "held"
	default:
		return "out_of_sync"
	}
}

type jobJSON struct {
	Job               string                 `json:"job,omitempty"`
	Namespace         string                 `json:"namespace,omitempty"`
	Path              string                 `json:"path"`
	Source            string                 `json:"source,omitempty"`
	Class             Class                  `json:"class"`
	State             string                 `json:"state"`
	Commit            string                 `json:"commit,omitempty"`
	AppliedCommit     string                 `json:"applied_commit,omitempty"`
	Changes           []string               `json:"changes,omitempty"`
	Groups            map[string]GroupCounts `json:"groups,omitempty"`
	PlacementFailures []string               `json:"placement_failures,omitempty"`
	Held              string                 `json:"held,omitempty"`
	DependsOn         []string               `json:"depends_on,omitempty"`
	Applied           *appliedJSON           `json:"applied,omitempty"`
	Error             string                 `json:"error,omitempty"`
}

type appliedJSON struct {
	EvalID      string `json:"eval_id"`
	Version     uint64 `json:"version"`
	ModifyIndex uint64 `json:"modify_index"`
}

// MarshalJSON gives the stable shape of `drover plan --json` and /v1/status.
func (r *JobResult) MarshalJSON() ([]byte, error) {
	v := jobJSON{
		Job:           r.ID,
		Namespace:     r.Namespace,
		Path:          r.Path,
		Source:        r.Source,
		Class:         r.Class,
		State:         r.State(),
		Commit:        r.Commit,
		AppliedCommit: r.AppliedCommit,
		Changes:       r.Changes,
		Groups:        r.Groups,
		Held:          r.Hold,
		Error:         errString(r.Err),
	}
	for _, k := range r.DependsOn {
		v.DependsOn = append(v.DependsOn, k.String())
	}
	v.PlacementFailures = sortedKeys(r.PlacementFailures)
	if a := r.Applied; a != nil {
		v.Applied = &appliedJSON{EvalID: a.EvalID, Version: a.Version, ModifyIndex: a.ModifyIndex}
	}
	return json.Marshal(v)
}

// MarshalJSON gives an orphan's stable JSON shape.
func (o *Orphan) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Job       string `json:"job"`
		Namespace string `json:"namespace"`
		Path      string `json:"path,omitempty"`
		Commit    string `json:"commit,omitempty"`
		Source    string `json:"source,omitempty"`
		Pruned    bool   `json:"pruned"`
		Blocked   string `json:"prune_blocked,omitempty"`
		EvalID    string `json:"eval_id,omitempty"`
		Error     string `json:"error,omitempty"`
	}{o.ID, o.Namespace, o.Path, o.Commit, o.Source, o.Pruned, o.Blocked, o.EvalID, errString(o.Err)})
}

// MarshalJSON gives a report's stable JSON shape.
func (r *Report) MarshalJSON() ([]byte, error) {
	results := r.Jobs
	if results == nil {
		results = []*JobResult{}
	}
	orphans := r.Orphans
	if orphans == nil {
		orphans = []*Orphan{}
	}
	return json.Marshal(struct {
		Revision     string           `json:"revision,omitempty"`
		Commit       *jobs.CommitInfo `json:"commit_info,omitempty"`
		Counts       Counts           `json:"counts"`
		Jobs         []*JobResult     `json:"jobs"`
		Orphans      []*Orphan        `json:"orphans"`
		PruneBlocked string           `json:"prune_blocked,omitempty"`
		Sources      []sourceJSON     `json:"sources,omitempty"`
		DurationMS   int64            `json:"duration_ms"`
	}{r.Revision, r.Commit, r.Counts(), results, orphans, r.PruneBlocked, sourcesJSON(r.Sources), r.Duration.Milliseconds()})
}

// sourceJSON is one source of a report with many sources.
type sourceJSON struct {
	Name     string           `json:"name"`
	Revision string           `json:"revision,omitempty"`
	Commit   *jobs.CommitInfo `json:"commit_info,omitempty"`
	Prune    bool             `json:"prune"`
	Error    string           `json:"error,omitempty"`
}

func sourcesJSON(in []jobs.SourceOutcome) []sourceJSON {
	var out []sourceJSON
	for _, s := range in {
		out = append(out, sourceJSON{Name: s.Name, Revision: s.Revision, Commit: s.Commit, Prune: s.Prune, Error: errString(s.Err)})
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

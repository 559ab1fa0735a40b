package reconcile

import (
	"encoding/json"

	"github.com/drover-dev/drover/api"
)

// API is the report in the schema of /v1/status and `drover plan --json`.
func (r *Report) API() *api.Report {
	v := &api.Report{
		Revision:     r.Revision,
		Commit:       r.Commit,
		Counts:       r.Counts(),
		Jobs:         make([]api.Job, 0, len(r.Jobs)),
		Orphans:      make([]api.Orphan, 0, len(r.Orphans)),
		PruneBlocked: r.PruneBlocked,
		DurationMS:   r.Duration.Milliseconds(),
	}
	for _, j := range r.Jobs {
		v.Jobs = append(v.Jobs, j.API())
	}
	for _, o := range r.Orphans {
		v.Orphans = append(v.Orphans, o.API())
	}
	for _, s := range r.Sources {
		v.Sources = append(v.Sources, api.Source{Name: s.Name, Revision: s.Revision, Commit: s.Commit, Prune: s.Prune, Error: errString(s.Err)})
	}
	return v
}

// API is the job's entry in a report's schema.
func (r *JobResult) API() api.Job {
	v := api.Job{
		Job:               r.ID,
		Namespace:         r.Namespace,
		Path:              r.Path,
		Source:            r.Source,
		Class:             r.Class,
		State:             r.State(),
		Commit:            r.Commit,
		AppliedCommit:     r.AppliedCommit,
		Changes:           r.Changes,
		Groups:            r.Groups,
		PlacementFailures: sortedKeys(r.PlacementFailures),
		Held:              r.Hold,
		Error:             errString(r.Err),
	}
	for _, k := range r.DependsOn {
		v.DependsOn = append(v.DependsOn, k.String())
	}
	if a := r.Applied; a != nil {
		v.Applied = &api.Applied{EvalID: a.EvalID, Version: a.Version, ModifyIndex: a.ModifyIndex}
	}
	return v
}

// API is the orphan's entry in a report's schema.
func (o *Orphan) API() api.Orphan {
	return api.Orphan{Job: o.ID, Namespace: o.Namespace, Path: o.Path, Commit: o.Commit, Source: o.Source,
		Pruned: o.Pruned, PruneBlocked: o.Blocked, EvalID: o.EvalID, Error: errString(o.Err)}
}

// MarshalJSON gives the stable shape of `drover plan --json` and /v1/status.
func (r *JobResult) MarshalJSON() ([]byte, error) { return json.Marshal(r.API()) }

// MarshalJSON gives an orphan's stable JSON shape.
func (o *Orphan) MarshalJSON() ([]byte, error) { return json.Marshal(o.API()) }

// MarshalJSON gives a report's stable JSON shape.
func (r *Report) MarshalJSON() ([]byte, error) { return json.Marshal(r.API()) }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

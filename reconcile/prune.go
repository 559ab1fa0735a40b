package reconcile

import (
	"context"
	"fmt"
	"sort"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// orphans finds the running jobs this drover registered whose file is gone
// from git, and deregisters them when pruning is on and safe. It returns why
// pruning was held back, if it was.
func (e *Engine) orphans(ctx context.Context, set *jobs.Set, cluster map[jobs.Key]*api.JobListStub) ([]*Orphan, string) {
	desired := map[jobs.Key]bool{}
	broken := map[string]bool{}
	for _, f := range set.Files {
		switch {
		case f.Err == nil:
			desired[f.Key()] = true
		case f.SourceName != "":
			broken[f.SourceName+"\x00"+f.Path] = true
			if f.Job != nil {
				// Claimed by two sources: wanted, just not applied.
				desired[f.Key()] = true
			}
		default:
			broken[f.Path] = true
		}
	}
	var out []*Orphan
	for key, stub := range cluster {
		owner, ok := jobs.OwnershipOf(stub.Meta, e.opts.Instance)
		switch {
		case !ok, stub.Stop, desired[key]:
			continue
		case stub.ParentID != "":
			// Periodic and parameterized children inherit their parent's
			// meta; they belong to Nomad, not to a file.
			continue
		case broken[owner.Path], owner.Source != "" && broken[owner.Source+"\x00"+owner.Path]:
			// Its file is broken, not gone.
			continue
		}
		out = append(out, &Orphan{Key: key, Path: owner.Path, Commit: owner.Commit, Source: owner.Source, Blocked: set.Keep[key]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })

	if set.Sources != nil {
		e.pruneSources(ctx, set, out)
		return out, ""
	}
	blocked := e.pruneBlocked(set)
	for _, o := range out {
		why := blocked
		if why == "" {
			why = o.Blocked
		}
		e.pruneOrphan(ctx, o, e.opts.Prune, why)
	}
	if !e.opts.Prune {
		blocked = ""
	}
	return out, blocked
}

// pruneSources prunes the orphans of a set of many sources: each by its
// own source's setting, and only when that source was read in full this
// cycle. An orphan of a source that is gone from the config, or from
// before there were sources, is only reported: nothing says it is wanted
// gone.
func (e *Engine) pruneSources(ctx context.Context, set *jobs.Set, orphans []*Orphan) {
	for _, o := range orphans {
		src := set.Source(o.Source)
		prune := src != nil && src.Prune
		// What the controls keep (a suspension of the instance or of this
		// job) comes first: it holds whatever the source says.
		switch {
		case set.NoPrune != "":
			o.Blocked = set.NoPrune
		case o.Blocked == "":
			o.Blocked = e.sourcePruneBlocked(set, src, o.Source)
		}
		e.pruneOrphan(ctx, o, prune, o.Blocked)
		if src != nil && !src.Prune && set.NoPrune == "" && set.Keep[o.Key] == "" {
			// Off is the user's choice, not a block.
			o.Blocked = ""
		}
	}
}

// pruneOrphan reports o, and stops it when prune is on and blocked says
// nothing.
func (e *Engine) pruneOrphan(ctx context.Context, o *Orphan, prune bool, blocked string) {
	subject := events.Subject{Job: o.ID, Namespace: o.Namespace, Path: o.Path, Commit: o.Commit, Source: o.Source}
	e.opts.Emitter.Emit(events.JobOrphan{Subject: subject, Prune: prune, PruneBlocked: blocked},
		"job was registered by drover but its file is gone from git")
	if blocked != "" || !prune || ctx.Err() != nil {
		return
	}
	if err := e.deregister(ctx, o); err != nil {
		o.Err = err
		e.opts.Emitter.Emit(events.JobError{Subject: subject, Error: err.Error()}, "prune failed")
		return
	}
	e.opts.Emitter.Emit(events.JobPruned{Subject: subject, EvalID: o.EvalID}, "job stopped (not purged)")
}

// sourcePruneBlocked says why an orphan of the named source must not be
// pruned this cycle, or "".
func (e *Engine) sourcePruneBlocked(set *jobs.Set, src *jobs.SourceOutcome, name string) string {
	switch {
	case src == nil && name == "":
		return "the job has no drover.source: it was registered before --config; stop it by hand"
	case src == nil:
		return fmt.Sprintf("source %q is not in the config; stop the job by hand, or add the source back", name)
	case !src.Prune:
		return fmt.Sprintf("pruning is off for source %q", name)
	case !e.opts.Apply:
		return "dry run"
	case src.Err != nil:
		return fmt.Sprintf("source %q could not be read this cycle", name)
	}
	n := 0
	for _, f := range set.Files {
		if f.SourceName != name {
			continue
		}
		if f.Err != nil {
			return fmt.Sprintf("a job file of source %q failed to load; its job may be one of the orphans", name)
		}
		n++
	}
	if n == 0 {
		return fmt.Sprintf("source %q has no job files; refusing to stop all its jobs", name)
	}
	return ""
}

// pruneBlocked says why this cycle must not prune, or "".
func (e *Engine) pruneBlocked(set *jobs.Set) string {
	switch {
	case !e.opts.Prune:
		return "pruning is off (--prune)"
	case !e.opts.Apply:
		return "dry run"
	case set.Failed():
		return "a job file failed to load; its job may be one of the orphans"
	case len(set.Files) == 0:
		return "no job files were found; refusing to stop every job"
	case set.NoPrune != "":
		return set.NoPrune
	}
	return ""
}

func (e *Engine) deregister(ctx context.Context, o *Orphan) error {
	if err := e.allowed(); err != nil {
		return fmt.Errorf("deregister %s: %w", o.Key, err)
	}
	ctx, cancel := e.call(context.WithoutCancel(ctx))
	defer cancel()
	evalID, err := e.cluster.Deregister(ctx, o.Namespace, o.ID)
	if err != nil {
		return fmt.Errorf("deregister %s: %w", o.Key, err)
	}
	o.Pruned, o.EvalID = true, evalID
	return nil
}

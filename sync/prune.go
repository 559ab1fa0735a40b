package sync

import (
	"context"
	"fmt"
	"sort"

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
		if f.Err != nil {
			broken[f.Path] = true
		} else {
			desired[f.Key()] = true
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
		case broken[owner.Path]:
			// Its file is broken, not gone.
			continue
		}
		out = append(out, &Orphan{Key: key, Path: owner.Path, Commit: owner.Commit, Kept: set.Keep[key]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })

	blocked := e.pruneBlocked(set)
	for _, o := range out {
		log := e.opts.Logger.With().Str("job", o.ID).Str("namespace", o.Namespace).
			Str("path", o.Path).Str("commit", o.Commit).Logger()
		ev := log.Warn().Str("event", "job.orphan").Bool("prune", e.opts.Prune)
		if blocked != "" {
			ev = ev.Str("prune_blocked", blocked)
		} else if o.Kept != "" {
			ev = ev.Str("prune_blocked", o.Kept)
		}
		ev.Msg("job was registered by drover but its file is gone from git")
		if blocked != "" || o.Kept != "" || !e.opts.Prune || ctx.Err() != nil {
			continue
		}
		if err := e.deregister(ctx, o); err != nil {
			o.Err = err
			log.Error().Str("event", "job.error").Err(err).Msg("prune failed")
			continue
		}
		log.Info().Str("event", "job.pruned").Str("eval_id", o.EvalID).Msg("job stopped (not purged)")
	}
	if !e.opts.Prune {
		blocked = ""
	}
	return out, blocked
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

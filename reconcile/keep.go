package reconcile

import (
	"context"
	"fmt"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// clusterValues returns a copy of job in which the fields o gives away
// have the cluster's values (cur): those in o.fields always, the counts
// of o.counts when copyCounts is set. A field the cluster's job lacks is
// removed. job is not modified: parsed jobs are shared between cycles.
func clusterValues(job, cur *api.Job, o foreign, copyCounts bool) (*api.Job, error) {
	c, err := jobs.Copy(job)
	if err != nil {
		return nil, err
	}
	for _, p := range o.fields {
		if p.Kind == jobs.IgnoreJobMeta {
			c.Meta = copyKey(c.Meta, cur.Meta, p.Key)
		}
	}
	for _, tg := range c.TaskGroups {
		name := deref(tg.Name)
		curTG := findTaskGroup(cur, name)
		if curTG == nil {
			// A group new in git has nothing in the cluster to keep.
			continue
		}
		if copyCounts && o.counts[name] {
			tg.Count = curTG.Count
		}
		for _, p := range o.fields {
			if p.Kind == jobs.IgnoreGroupMeta && p.InGroup(name) {
				tg.Meta = copyKey(tg.Meta, curTG.Meta, p.Key)
			}
		}
		for _, t := range tg.Tasks {
			curT := findTask(curTG, t.Name)
			if curT == nil {
				continue
			}
			for _, p := range o.fields {
				if !p.InTask(name, t.Name) {
					continue
				}
				switch p.Kind {
				case jobs.IgnoreTaskConfig:
					t.Config = copyKey(t.Config, curT.Config, p.Key)
				case jobs.IgnoreTaskEnv:
					t.Env = copyKey(t.Env, curT.Env, p.Key)
				case jobs.IgnoreTaskMeta:
					t.Meta = copyKey(t.Meta, curT.Meta, p.Key)
				}
			}
		}
	}
	return c, nil
}

// copyKey sets dst[key] to src[key], or deletes it when src has none.
func copyKey[V any](dst, src map[string]V, key string) map[string]V {
	v, ok := src[key]
	if !ok {
		delete(dst, key)
		return dst
	}
	if dst == nil {
		dst = map[string]V{}
	}
	dst[key] = v
	return dst
}

func findTaskGroup(job *api.Job, name string) *api.TaskGroup {
	for _, tg := range job.TaskGroups {
		if tg != nil && deref(tg.Name) == name {
			return tg
		}
	}
	return nil
}

func findTask(tg *api.TaskGroup, name string) *api.Task {
	for _, t := range tg.Tasks {
		if t != nil && t.Name == name {
			return t
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// keepOwned prepares the register of a job the cluster runs so that what
// other tools own keeps the cluster's value. It returns the job to
// register and whether Nomad should preserve the counts. A job being
// created takes git's values: there is nothing to keep.
//
// PreserveCounts keeps the count of every group, so it is used only when
// no group whose count is drover's changes count; otherwise, and for
// drover.ignore fields, the cluster's job is read (only now, when a
// register is due) and its values copied. If the job changes between the
// plan and that read, the register's check-index refuses it, and the next
// cycle plans again: a value read here is never newer than what is
// overwritten.
func (e *Engine) keepOwned(ctx context.Context, r *JobResult, job *api.Job, o foreign, filt filtered) (*api.Job, bool, error) {
	if r.Class == Create || o.none() {
		return job, false, nil
	}
	preserve := len(o.counts) > 0 && !filt.countChanged
	copyCounts := len(o.counts) > 0 && filt.countChanged
	if len(o.fields) == 0 && !copyCounts {
		return job, preserve, nil
	}
	callCtx, cancel := e.call(ctx)
	defer cancel()
	cur, err := e.cluster.Job(callCtx, r.Namespace, r.ID)
	e.progress()
	if err != nil {
		return nil, false, fmt.Errorf("read %s for the fields other tools own: %w", r.Key, markUnreachable(err))
	}
	job, err = clusterValues(job, cur, o, copyCounts)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", r.Key, err)
	}
	return job, preserve, nil
}

// Package health decides whether a rollout of a Nomad job is healthy: it
// follows the job's deployment and allocations in Nomad and the Consul
// checks of the new allocations, and turns them into a verdict. Assess and
// Tracker are pure functions of what the cluster shows and the time, so
// they are table-tested; Watcher gathers the observations with blocking
// queries.
package health

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// Target is the job version a rollout is judged on.
type Target struct {
	Namespace string
	JobID     string
	Version   uint64
	// Services are the Consul services the job registers.
	Services []string
	// Checks is how many Consul checks each allocation of a task group
	// registers; an allocation is healthy when that many pass.
	Checks map[string]int
	// AutoRevert is set when a task group has Nomad's update.auto_revert:
	// Nomad then judges its deployment itself and reverts a failed one, and
	// drover waits for that verdict instead of racing it.
	AutoRevert bool
	// FailAfter is the job's own Policy.FailAfter (meta
	// drover.health_fail_after; "0s" turns it off for the job), when
	// HasFailAfter.
	FailAfter    time.Duration
	HasFailAfter bool
	// FailAfterErr says why the job's drover.health_fail_after was not
	// used.
	FailAfterErr string
	// StartGrace is the longest min_healthy_time of its groups and
	// check_restart grace of its checks: a check is not held critical
	// against a task that still starts.
	StartGrace time.Duration
	// MayBeIdle is set when the job may run no allocation at all and be
	// right: every group has count 0, or a scaling block that lets the
	// autoscaler take it to 0 (drover registers those keeping the
	// cluster's count). Such a rollout does not wait for an allocation
	// of its version that may never come; one that does come is judged
	// like any other, and resets the bake.
	MayBeIdle bool
}

// Watched reports whether the job's kind has a rollout to watch: batch jobs
// run to completion and have no health to hold.
func Watched(job *api.Job) bool {
	t := deref(job.Type)
	return t != "batch" && t != "sysbatch"
}

// TargetOf describes the registered job at its version: which services to
// watch in Consul and how many checks each allocation must pass.
func TargetOf(job *api.Job) Target {
	t := Target{
		Namespace: deref(job.Namespace),
		JobID:     deref(job.ID),
		Checks:    map[string]int{},
	}
	if job.Version != nil {
		t.Version = *job.Version
	}
	seen := map[string]bool{}
	add := func(s *api.Service, group, task string) {
		if s.Provider != "" && s.Provider != "consul" {
			return
		}
		name := interpolate(s.Name, job, group, task)
		if name == "" {
			return
		}
		if !seen[name] {
			seen[name] = true
			t.Services = append(t.Services, name)
		}
		t.Checks[group] += len(s.Checks)
	}
	grace := func(s *api.Service) {
		if s.CheckRestart != nil {
			t.StartGrace = max(t.StartGrace, deref(s.CheckRestart.Grace))
		}
		for _, c := range s.Checks {
			if c.CheckRestart != nil {
				t.StartGrace = max(t.StartGrace, deref(c.CheckRestart.Grace))
			}
		}
	}
	if job.Update != nil {
		t.StartGrace = max(t.StartGrace, deref(job.Update.MinHealthyTime))
	}
	t.MayBeIdle = deref(job.Type) != "system"
	for _, g := range job.TaskGroups {
		group := deref(g.Name)
		if !mayBeIdle(g) {
			t.MayBeIdle = false
		}
		if g.Update != nil && deref(g.Update.AutoRevert) {
			t.AutoRevert = true
		}
		if g.Update != nil {
			t.StartGrace = max(t.StartGrace, deref(g.Update.MinHealthyTime))
		}
		for _, s := range g.Services {
			add(s, group, "")
			grace(s)
		}
		for _, task := range g.Tasks {
			for _, s := range task.Services {
				add(s, group, task.Name)
				grace(s)
			}
		}
	}
	if v, ok := job.Meta[jobs.MetaHealthFailAfter]; ok {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || d < 0:
			t.FailAfterErr = fmt.Sprintf("meta %s = %q is not a duration like 30s or 2m; using --health-fail-after", jobs.MetaHealthFailAfter, v)
		default:
			t.FailAfter, t.HasFailAfter = d, true
		}
	}
	sort.Strings(t.Services)
	return t
}

// interpolate resolves the runtime variables Nomad allows in service names
// that are known before placement. A name still holding "${" after that
// cannot be watched by name: its checks are not waited for.
func interpolate(name string, job *api.Job, group, task string) string {
	if name == "" {
		// Nomad's default service name.
		name = "${JOB}-${TASKGROUP}-${TASK}"
		if task == "" {
			name = "${JOB}-${TASKGROUP}"
		}
	}
	r := strings.NewReplacer(
		"${JOB}", deref(job.Name), "${NOMAD_JOB_NAME}", deref(job.Name),
		"${NOMAD_JOB_ID}", deref(job.ID),
		"${TASKGROUP}", group, "${NOMAD_GROUP_NAME}", group,
		"${TASK}", task, "${NOMAD_TASK_NAME}", task,
		"${NOMAD_NAMESPACE}", deref(job.Namespace),
		"${NOMAD_REGION}", deref(job.Region),
	)
	name = r.Replace(name)
	if strings.Contains(name, "${") {
		return ""
	}
	return name
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// needsChecks reports whether any allocation of the target must pass
// Consul checks: only then is Consul an input its verdict depends on.
func (t Target) needsChecks() bool {
	for _, n := range t.Checks {
		if n > 0 {
			return true
		}
	}
	return false
}

// PolicyFor is p as it applies to t's job: its own fail-after, and its
// start grace.
func (t Target) PolicyFor(p Policy) Policy {
	if t.HasFailAfter {
		p.FailAfter = t.FailAfter
	}
	p.StartGrace = t.StartGrace
	return p
}

// mayBeIdle reports whether g may rightly run no allocation: its count is
// 0, or the autoscaler may scale it to 0.
func mayBeIdle(g *api.TaskGroup) bool {
	if g.Count != nil && *g.Count == 0 {
		return true
	}
	s := g.Scaling
	return s != nil && (s.Enabled == nil || *s.Enabled) && s.Min != nil && *s.Min == 0
}

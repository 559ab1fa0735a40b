package health

import (
	"fmt"
	"sort"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// Observation is what the cluster showed of a job at one moment.
type Observation struct {
	Allocs      []*api.AllocationListStub
	Deployments []*api.Deployment
	// Checks are the Consul checks of the target's services.
	Checks []*consulapi.HealthCheck
	// NomadErr and ConsulErr are why the newest query failed: what the
	// input shows is then unknown, not bad.
	NomadErr  error
	ConsulErr error
	// NomadPending and ConsulPending: the input has neither answered nor
	// failed yet. What it shows is not known yet, and it is not
	// unreachable either: its first query is in flight.
	NomadPending  bool
	ConsulPending bool
	// AsOf is how fresh the observation is: the oldest, among the inputs
	// the target needs, of the times their last successful query was
	// sent. The server reads its answer after the request is sent, so the
	// data is at least that new. Zero while a needed input has not
	// answered.
	AsOf time.Time
}

// Assessment is how a rollout looks at one moment.
type Assessment struct {
	// Failed holds what fails the rollout at once: a failed deployment, a
	// failed, lost, unhealthy or restarting allocation of the new version.
	Failed []Problem
	// Critical holds the new allocations' critical checks: a rollout is
	// given until the deadline to pass them, a baking one is not.
	Critical []Problem
	// Waiting says why the rollout is not healthy yet otherwise.
	Waiting []string
	// Ready: the deployment (if any) succeeded, every new allocation runs,
	// and every one of their checks passes.
	Ready bool
	// Unreachable says which input could not be asked; "" when both
	// answered.
	Unreachable string
	// Superseded says why this version is no longer the one to judge:
	// someone registered a newer version, or the deployment was cancelled.
	Superseded string
	// Reverted is the description of a deployment Nomad's own auto_revert
	// rolled back.
	Reverted string
	// AsOf is the observation's AsOf: what time the assessment speaks for.
	AsOf time.Time
}

// Assess judges a target against one observation.
func Assess(t Target, o Observation) Assessment {
	a := Assessment{AsOf: o.AsOf}
	if o.NomadErr != nil {
		a.Unreachable = "nomad: " + o.NomadErr.Error()
		a.Waiting = append(a.Waiting, "Nomad unreachable")
		return a
	}
	if o.NomadPending {
		a.Waiting = append(a.Waiting, "waiting for Nomad's first answer")
		return a
	}
	deployDone, deployRunning := assessDeployment(t, o.Deployments, &a)
	live, failing := assessAllocs(t, o.Allocs, &a)
	if t.AutoRevert && deployRunning && len(a.Failed) > 0 {
		// Nomad is about to fail the deployment and revert the job; acting
		// first would race its revert. Its verdict comes within moments;
		// drover's deadline still bounds the wait.
		for _, p := range a.Failed {
			a.Waiting = append(a.Waiting, "auto_revert: Nomad decides on "+p.String())
		}
		a.Failed = nil
	}
	checksOK := assessChecks(t, o, live, &a)
	if o.ConsulErr == nil && !o.ConsulPending {
		// A failed allocation's critical checks are often why it failed.
		for _, al := range failing {
			a.Critical = append(a.Critical, criticalChecks(o.Checks, al)...)
		}
	}
	a.Ready = a.Superseded == "" && len(a.Failed) == 0 && deployDone && (len(live) > 0 || t.MayBeIdle) &&
		checksOK && len(a.Critical) == 0 && len(a.Waiting) == 0
	return a
}

// assessDeployment reports whether the version's deployment is done, or
// absent (system jobs and jobs without an update block have none; the
// scheduler creates it together with the allocations, so allocations of
// the version without one mean there will be none), and whether it is
// still in progress.
func assessDeployment(t Target, deps []*api.Deployment, a *Assessment) (done, running bool) {
	var mine *api.Deployment
	var newer *api.Deployment
	for _, d := range deps {
		switch {
		case d.JobVersion == t.Version:
			if mine == nil || d.CreateIndex > mine.CreateIndex {
				mine = d
			}
		case d.JobVersion > t.Version:
			if newer == nil || d.CreateIndex > newer.CreateIndex {
				newer = d
			}
		}
	}
	if mine == nil {
		if newer != nil {
			a.Superseded = fmt.Sprintf("job version %d was registered after version %d", newer.JobVersion, t.Version)
		}
		return true, false
	}
	switch mine.Status {
	case api.DeploymentStatusFailed:
		a.Failed = append(a.Failed, Problem{Kind: "deployment", Status: mine.Status, Output: mine.StatusDescription})
		// Nomad says "- rolling back to job version N" when it reverts, but
		// also "- not rolling back to stable job version N as current job
		// has same specification" when it does not.
		if strings.Contains(mine.StatusDescription, "- rolling back to job version") {
			a.Reverted = mine.StatusDescription
		}
		return false, false
	case api.DeploymentStatusCancelled:
		a.Superseded = "deployment cancelled: " + mine.StatusDescription
		return false, false
	case api.DeploymentStatusSuccessful:
		if newer != nil {
			a.Superseded = fmt.Sprintf("job version %d was registered after version %d", newer.JobVersion, t.Version)
		}
		return true, false
	}
	a.Waiting = append(a.Waiting, fmt.Sprintf("deployment %s %s: %s", shortID(mine.ID), mine.Status, mine.StatusDescription))
	return false, true
}

// assessAllocs records failed and pending allocations of the version and
// returns the running ones, whose checks decide the rest.
func assessAllocs(t Target, allocs []*api.AllocationListStub, a *Assessment) (live, failing []*api.AllocationListStub) {
	older := 0
	for _, al := range allocs {
		if al.JobVersion != t.Version {
			if al.JobVersion > t.Version && a.Superseded == "" && a.Reverted == "" {
				a.Superseded = fmt.Sprintf("allocations of job version %d replaced version %d", al.JobVersion, t.Version)
			}
			if al.DesiredStatus == api.AllocDesiredStatusRun && (al.ClientStatus == api.AllocClientStatusRunning || al.ClientStatus == api.AllocClientStatusPending) {
				older++
			}
			continue
		}
		if p, bad := allocProblem(al); bad {
			a.Failed = append(a.Failed, p...)
			if al.ClientStatus == api.AllocClientStatusRunning {
				failing = append(failing, al)
			}
			continue
		}
		if al.DesiredStatus != api.AllocDesiredStatusRun {
			continue
		}
		if al.ClientStatus != api.AllocClientStatusRunning {
			a.Waiting = append(a.Waiting, fmt.Sprintf("allocation %s is %s", shortID(al.ID), al.ClientStatus))
			continue
		}
		live = append(live, al)
	}
	if len(live) == 0 && len(a.Failed) == 0 && !(t.MayBeIdle && len(a.Waiting) == 0) {
		a.Waiting = append(a.Waiting, fmt.Sprintf("no allocation of version %d is running yet", t.Version))
	}
	if older > 0 {
		a.Waiting = append(a.Waiting, fmt.Sprintf("%d allocations of other versions still running", older))
	}
	return live, failing
}

// allocProblem says what is wrong with an allocation of the new version:
// failed or lost, marked unhealthy by the deployment, or a task that failed
// or restarted.
func allocProblem(al *api.AllocationListStub) ([]Problem, bool) {
	var out []Problem
	status := ""
	switch {
	case al.ClientStatus == api.AllocClientStatusFailed || al.ClientStatus == api.AllocClientStatusLost:
		status = al.ClientStatus
	case al.DeploymentStatus != nil && al.DeploymentStatus.Healthy != nil && !*al.DeploymentStatus.Healthy:
		status = "unhealthy"
	}
	for _, task := range sortedTasks(al.TaskStates) {
		ts := al.TaskStates[task]
		if !ts.Failed && ts.Restarts == 0 && status == "" {
			continue
		}
		st := ts.State
		switch {
		case ts.Failed:
			st = "failed"
		case ts.Restarts > 0:
			st = fmt.Sprintf("restarted %d times", ts.Restarts)
		}
		out = append(out, Problem{Kind: "task", Alloc: al.ID, Group: al.TaskGroup, Task: task, Status: st, Events: lastEvents(ts.Events, 3)})
	}
	if status != "" {
		// First, and even with task detail: a task's own state ("running")
		// does not say that the allocation failed, was lost or unhealthy.
		out = append([]Problem{{Kind: "allocation", Alloc: al.ID, Group: al.TaskGroup, Status: status, Output: al.ClientDescription}}, out...)
	}
	return out, len(out) > 0
}

// assessChecks records the checks of the running allocations and reports
// whether every allocation has all its checks passing.
func assessChecks(t Target, o Observation, live []*api.AllocationListStub, a *Assessment) bool {
	if t.needsChecks() {
		// Said even before an allocation runs: a rollout whose data is
		// stale must learn that an input is down, not wait for it.
		switch {
		case o.ConsulErr != nil:
			a.Unreachable = "consul: " + o.ConsulErr.Error()
			a.Waiting = append(a.Waiting, "Consul unreachable: check status unknown")
			return false
		case o.ConsulPending:
			a.Waiting = append(a.Waiting, "waiting for Consul's first answer")
			return false
		}
	}
	expected := 0
	for _, al := range live {
		expected += t.Checks[al.TaskGroup]
	}
	if expected == 0 {
		return true
	}
	ok := true
	for _, al := range live {
		passing := 0
		for _, c := range o.Checks {
			if isAllocCheck(c, al) && c.Status == consulapi.HealthPassing {
				passing++
			}
		}
		a.Critical = append(a.Critical, criticalChecks(o.Checks, al)...)
		if want := t.Checks[al.TaskGroup]; passing < want {
			ok = false
			a.Waiting = append(a.Waiting, fmt.Sprintf("%d of %d checks passing on allocation %s", passing, want, shortID(al.ID)))
		}
	}
	return ok
}

// isAllocCheck: Nomad names the services it registers after the
// allocation, _nomad-task-<alloc ID>-….
func isAllocCheck(c *consulapi.HealthCheck, al *api.AllocationListStub) bool {
	return strings.Contains(c.ServiceID, al.ID)
}

func criticalChecks(checks []*consulapi.HealthCheck, al *api.AllocationListStub) []Problem {
	var out []Problem
	for _, c := range checks {
		if isAllocCheck(c, al) && c.Status == consulapi.HealthCritical {
			out = append(out, Problem{Kind: "check", Alloc: al.ID, Group: al.TaskGroup,
				Check: c.Name, CheckID: c.CheckID, Status: c.Status, Output: clip(strings.TrimSpace(c.Output), 300)})
		}
	}
	return out
}

func lastEvents(evs []*api.TaskEvent, n int) []string {
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		msg := e.DisplayMessage
		if msg == "" {
			msg = e.Message
		}
		line := e.Type
		if msg != "" {
			line += ": " + msg
		}
		if e.Time > 0 {
			line = time.Unix(0, e.Time).UTC().Format(time.TimeOnly) + " " + line
		}
		out = append(out, clip(line, 300))
	}
	return out
}

func sortedTasks(m map[string]*api.TaskState) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

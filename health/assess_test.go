package health

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// The files in testdata are trimmed answers of a Nomad and a Consul dev
// agent running examples/hello under raw_exec, one scenario each:
//
//	healthy            job "ok": deployment successful, check passing
//	deploying          job "slow": check passing, deployment still running (min_healthy_time 5m)
//	critical           job "crit" (hello -unhealthy): deployment running, check critical
//	progress-deadline  job "crit" later: deployment failed, allocation unhealthy
//	driver-failure     job "nocmd": command does not exist, allocation failed
//	restarting         job "crashy" (hello with a bad flag): task restarted, allocation pending
//	auto-revert        job "revert": version 1 (-unhealthy) failed and Nomad reverted to version 0 as version 2
//	cancelled          job "cancel": version 0's deployment cancelled by version 1
//	no-services        job "plain": a task with no service
//	no-deployment      job "nodep" (update max_parallel = 0): version 1 replaced version 0, no deployments
//
// Each has <scenario>-allocations.json (/v1/job/:id/allocations),
// <scenario>-deployments.json (/v1/job/:id/deployments) and
// <scenario>-checks.json (Consul /v1/health/checks/:service).

func loadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// captured returns a scenario's observation as the agents showed it.
func captured(t *testing.T, scenario string) Observation {
	t.Helper()
	var o Observation
	loadJSON(t, scenario+"-allocations.json", &o.Allocs)
	loadJSON(t, scenario+"-deployments.json", &o.Deployments)
	loadJSON(t, scenario+"-checks.json", &o.Checks)
	if len(o.Allocs) == 0 {
		t.Fatalf("%s: no allocations captured", scenario)
	}
	return o
}

// helloTarget is the target of the captured hello jobs: one group "web"
// with one service named after the job and one check.
func helloTarget(job string, version uint64) Target {
	return Target{Namespace: "default", JobID: job, Version: version, Services: []string{job}, Checks: map[string]int{"web": 1}}
}

// brief names a problem by kind, task and status, the parts a table can
// state without copying IDs and times.
func brief(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		s := p.Kind
		if p.Task != "" {
			s += " " + p.Task
		}
		out = append(out, strings.TrimSpace(s+" "+p.Status))
	}
	return out
}

func TestAssess(t *testing.T) {
	var (
		errConsul = errors.New(`Get "http://127.0.0.1:8500/v1/health/state/any": connection refused`)
		errNomad  = errors.New(`Get "http://127.0.0.1:4646/v1/allocations": connection refused`)
		asOf      = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	)
	tests := []struct {
		name   string
		target Target
		obs    func(t *testing.T) Observation
		want   Assessment // Failed and Critical compared by brief
		// check inspects what the table cannot state plainly.
		check func(t *testing.T, a Assessment)
	}{{
		name:   "healthy and ready",
		target: helloTarget("ok", 0),
		obs: func(t *testing.T) Observation {
			o := captured(t, "healthy")
			o.AsOf = asOf
			return o
		},
		want: Assessment{Ready: true, AsOf: asOf},
	}, {
		name:   "deployment running",
		target: helloTarget("slow", 0),
		obs:    func(t *testing.T) Observation { return captured(t, "deploying") },
		want:   Assessment{Waiting: []string{"deployment d7785fee running: Deployment is running"}},
	}, {
		name:   "check critical while the deployment runs",
		target: helloTarget("crit", 0),
		obs:    func(t *testing.T) Observation { return captured(t, "critical") },
		want: Assessment{
			Critical: []Problem{{Kind: "check", Status: "critical"}},
			Waiting: []string{
				"deployment 060b7cde running: Deployment is running",
				"0 of 1 checks passing on allocation 06c0761d",
			},
		},
		check: func(t *testing.T, a Assessment) {
			c := a.Critical[0]
			if c.Check != `service: "crit" check` || c.Alloc != "06c0761d-4224-af8f-62b6-93e19ace0aec" || c.Group != "web" {
				t.Errorf("critical check = %+v, want the check of service crit on allocation 06c0761d", c)
			}
		},
	}, {
		name:   "deployment failed, allocation unhealthy",
		target: helloTarget("crit", 0),
		obs:    func(t *testing.T) Observation { return captured(t, "progress-deadline") },
		want: Assessment{
			Failed: []Problem{
				{Kind: "deployment", Status: "failed"},
				{Kind: "allocation", Status: "unhealthy"},
				{Kind: "task", Task: "hello", Status: "running"},
			},
			// The unhealthy allocation still runs: its critical check is
			// why, and belongs in the report.
			Critical: []Problem{{Kind: "check", Status: "critical"}},
		},
		check: func(t *testing.T, a Assessment) {
			if got := a.Failed[0].Output; got != "Failed due to progress deadline" {
				t.Errorf("deployment output = %q", got)
			}
			if ev := strings.Join(a.Failed[2].Events, "\n"); !strings.Contains(ev, "Alloc Unhealthy: Task not running for min_healthy_time") {
				t.Errorf("task events do not say why the allocation is unhealthy:\n%s", ev)
			}
		},
	}, {
		name:   "allocation failed: command does not exist",
		target: helloTarget("nocmd", 0),
		obs:    func(t *testing.T) Observation { return captured(t, "driver-failure") },
		want: Assessment{
			Failed:  []Problem{{Kind: "allocation", Status: "failed"}, {Kind: "task", Task: "hello", Status: "failed"}},
			Waiting: []string{"deployment 9b9dfa19 running: Deployment is running"},
		},
		check: func(t *testing.T, a Assessment) {
			task := a.Failed[1]
			if len(task.Events) != 3 {
				t.Fatalf("events = %q, want the newest 3", task.Events)
			}
			if !strings.Contains(task.Events[0], `Driver Failure: failed to launch command with executor`) ||
				!strings.Contains(task.Events[0], `"/nonexistent/hello" could not be found`) {
				t.Errorf("oldest shown event = %q, want the driver failure", task.Events[0])
			}
			if s := task.String(); !strings.Contains(s, "task alloc 31b522b8 task hello failed [") {
				t.Errorf("String() = %q", s)
			}
		},
	}, {
		name:   "task restarted",
		target: helloTarget("crashy", 0),
		obs:    func(t *testing.T) Observation { return captured(t, "restarting") },
		want: Assessment{
			Failed:  []Problem{{Kind: "task", Task: "hello", Status: "restarted 1 times"}},
			Waiting: []string{"deployment 1a8fe6ea running: Deployment is running"},
		},
		check: func(t *testing.T, a Assessment) {
			if ev := a.Failed[0].Events; len(ev) == 0 || !strings.Contains(ev[len(ev)-1], "Restarting: Task restarting in") {
				t.Errorf("events = %q, want the restart last", ev)
			}
		},
	}, {
		name:   "Nomad's auto_revert rolled the failed version back",
		target: helloTarget("revert", 1),
		obs:    func(t *testing.T) Observation { return captured(t, "auto-revert") },
		want: Assessment{
			Failed: []Problem{
				{Kind: "deployment", Status: "failed"},
				{Kind: "allocation", Status: "unhealthy"},
				{Kind: "task", Task: "hello", Status: "dead"},
			},
			// The revert runs as version 2; it does not supersede version 1.
			Waiting:  []string{"1 allocations of other versions still running"},
			Reverted: "Failed due to progress deadline - rolling back to job version 0",
		},
	}, {
		name:   "failed without reverting: no stable version differs",
		target: helloTarget("revert", 1),
		obs: func(t *testing.T) Observation {
			o := captured(t, "auto-revert")
			for _, d := range o.Deployments {
				if d.JobVersion == 1 {
					d.StatusDescription = "Failed due to unhealthy allocations - not rolling back to stable job version 0 as current job has same specification"
				}
			}
			// Without the revert there is no version 2.
			o.Deployments = slices.DeleteFunc(o.Deployments, func(d *api.Deployment) bool { return d.JobVersion == 2 })
			o.Allocs = slices.DeleteFunc(o.Allocs, func(a *api.AllocationListStub) bool { return a.JobVersion == 2 })
			return o
		},
		want: Assessment{Failed: []Problem{
			{Kind: "deployment", Status: "failed"},
			{Kind: "allocation", Status: "unhealthy"},
			{Kind: "task", Task: "hello", Status: "dead"},
		}},
	}, {
		name: "auto_revert: a failed allocation is Nomad's to judge while its deployment runs",
		target: func() Target {
			t := helloTarget("nocmd", 0)
			t.AutoRevert = true
			return t
		}(),
		obs: func(t *testing.T) Observation { return captured(t, "driver-failure") },
		want: Assessment{Waiting: []string{
			"deployment 9b9dfa19 running: Deployment is running",
			"auto_revert: Nomad decides on allocation alloc 31b522b8 failed: Failed tasks",
			"auto_revert: Nomad decides on task alloc 31b522b8 task hello failed [",
		}},
	}, {
		name: "auto_revert: a failed deployment fails",
		target: func() Target {
			t := helloTarget("revert", 1)
			t.AutoRevert = true
			return t
		}(),
		obs: func(t *testing.T) Observation { return captured(t, "auto-revert") },
		want: Assessment{
			Failed: []Problem{
				{Kind: "deployment", Status: "failed"},
				{Kind: "allocation", Status: "unhealthy"},
				{Kind: "task", Task: "hello", Status: "dead"},
			},
			Waiting:  []string{"1 allocations of other versions still running"},
			Reverted: "Failed due to progress deadline - rolling back to job version 0",
		},
	}, {
		name:   "newer version registered after a successful deployment",
		target: helloTarget("revert", 0),
		obs:    func(t *testing.T) Observation { return captured(t, "auto-revert") },
		want: Assessment{
			Waiting:    []string{"no allocation of version 0 is running yet", "1 allocations of other versions still running"},
			Superseded: "job version 2 was registered after version 0",
		},
	}, {
		name:   "cancelled deployment",
		target: helloTarget("cancel", 0),
		obs:    func(t *testing.T) Observation { return captured(t, "cancelled") },
		want: Assessment{
			// Superseded wins over the stopped allocation's health in the
			// tracker.
			Failed:     []Problem{{Kind: "allocation", Status: "unhealthy"}, {Kind: "task", Task: "hello", Status: "dead"}},
			Waiting:    []string{"1 allocations of other versions still running"},
			Superseded: "deployment cancelled: Cancelled due to newer version of job",
		},
	}, {
		name:   "the version that cancelled the deployment",
		target: helloTarget("cancel", 1),
		obs:    func(t *testing.T) Observation { return captured(t, "cancelled") },
		want: Assessment{
			Critical: []Problem{{Kind: "check", Status: "critical"}},
			Waiting: []string{
				"deployment 355a1c82 running: Deployment is running",
				"0 of 1 checks passing on allocation f389bb78",
			},
		},
	}, {
		name:   "check warning is not passing",
		target: helloTarget("ok", 0),
		obs: func(t *testing.T) Observation {
			o := captured(t, "healthy")
			o.Checks[0].Status = consulapi.HealthWarning
			return o
		},
		want: Assessment{Waiting: []string{"0 of 1 checks passing on allocation 3a25d529"}},
	}, {
		name:   "checks not yet registered",
		target: helloTarget("ok", 0),
		obs: func(t *testing.T) Observation {
			o := captured(t, "healthy")
			o.Checks = nil
			return o
		},
		want: Assessment{Waiting: []string{"0 of 1 checks passing on allocation 3a25d529"}},
	}, {
		name:   "a check of another allocation does not count",
		target: helloTarget("ok", 0),
		obs: func(t *testing.T) Observation {
			o := captured(t, "healthy")
			o.Checks = captured(t, "deploying").Checks
			return o
		},
		want: Assessment{Waiting: []string{"0 of 1 checks passing on allocation 3a25d529"}},
	}, {
		name:   "Consul error: checks unknown",
		target: helloTarget("ok", 0),
		obs: func(t *testing.T) Observation {
			o := captured(t, "healthy")
			o.Checks, o.ConsulErr = nil, errConsul
			return o
		},
		want: Assessment{
			Waiting:     []string{"Consul unreachable: check status unknown"},
			Unreachable: "consul: " + errConsul.Error(),
		},
	}, {
		name:   "Consul error does not matter to a job without checks",
		target: Target{Namespace: "default", JobID: "plain", Checks: map[string]int{}},
		obs: func(t *testing.T) Observation {
			o := captured(t, "no-services")
			o.ConsulErr = errConsul
			return o
		},
		want: Assessment{Ready: true},
	}, {
		name:   "Nomad error: nothing is judged",
		target: helloTarget("nocmd", 0),
		obs: func(t *testing.T) Observation {
			// Stale allocations must not fail the rollout while Nomad
			// cannot be asked.
			o := captured(t, "driver-failure")
			o.NomadErr, o.AsOf = errNomad, asOf
			return o
		},
		want: Assessment{
			Waiting:     []string{"Nomad unreachable"},
			Unreachable: "nomad: " + errNomad.Error(),
			AsOf:        asOf,
		},
	}, {
		// A rollout waiting for data must learn that Consul is down
		// before an allocation runs, or it would wait for fresh checks.
		name:   "Consul error before any allocation of the version runs",
		target: helloTarget("ok", 1),
		obs: func(t *testing.T) Observation {
			o := captured(t, "healthy")
			o.ConsulErr = errConsul
			return o
		},
		want: Assessment{
			Waiting: []string{
				"no allocation of version 1 is running yet",
				"1 allocations of other versions still running",
				"Consul unreachable: check status unknown",
			},
			Unreachable: "consul: " + errConsul.Error(),
		},
	}, {
		name:   "Consul has not answered yet",
		target: helloTarget("ok", 0),
		obs: func(t *testing.T) Observation {
			o := captured(t, "healthy")
			o.Checks, o.ConsulPending = nil, true
			return o
		},
		want: Assessment{Waiting: []string{"waiting for Consul's first answer"}},
	}, {
		name:   "Nomad has not answered yet",
		target: helloTarget("ok", 0),
		obs:    func(*testing.T) Observation { return Observation{NomadPending: true} },
		want:   Assessment{Waiting: []string{"waiting for Nomad's first answer"}},
	}, {
		name:   "job with no services",
		target: Target{Namespace: "default", JobID: "plain", Checks: map[string]int{}},
		obs:    func(t *testing.T) Observation { return captured(t, "no-services") },
		want:   Assessment{Ready: true},
	}, {
		name:   "no deployment: running allocations of the version are enough",
		target: helloTarget("nodep", 1),
		obs:    func(t *testing.T) Observation { return captured(t, "no-deployment") },
		want:   Assessment{Ready: true},
	}, {
		name:   "no deployment: allocations of an older version still running",
		target: helloTarget("nodep", 1),
		obs: func(t *testing.T) Observation {
			o := captured(t, "no-deployment")
			for _, a := range o.Allocs {
				if a.JobVersion == 0 {
					a.DesiredStatus, a.ClientStatus = api.AllocDesiredStatusRun, api.AllocClientStatusRunning
				}
			}
			return o
		},
		want: Assessment{Waiting: []string{"1 allocations of other versions still running"}},
	}, {
		name:   "no deployment: allocations of a newer version supersede",
		target: helloTarget("nodep", 0),
		obs:    func(t *testing.T) Observation { return captured(t, "no-deployment") },
		want: Assessment{
			Waiting:    []string{"no allocation of version 0 is running yet", "1 allocations of other versions still running"},
			Superseded: "allocations of job version 1 replaced version 0",
		},
	}, {
		name:   "just registered: no allocation yet",
		target: helloTarget("ok", 1),
		obs:    func(t *testing.T) Observation { return captured(t, "healthy") },
		want: Assessment{Waiting: []string{
			"no allocation of version 1 is running yet",
			"1 allocations of other versions still running",
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assess(tt.target, tt.obs(t))
			if !slices.Equal(brief(a.Failed), brief(tt.want.Failed)) {
				t.Errorf("Failed = %q, want %q", brief(a.Failed), brief(tt.want.Failed))
			}
			if !slices.Equal(brief(a.Critical), brief(tt.want.Critical)) {
				t.Errorf("Critical = %q, want %q", brief(a.Critical), brief(tt.want.Critical))
			}
			if !waitingMatch(a.Waiting, tt.want.Waiting) {
				t.Errorf("Waiting = %q, want %q", a.Waiting, tt.want.Waiting)
			}
			if a.Ready != tt.want.Ready {
				t.Errorf("Ready = %v, want %v", a.Ready, tt.want.Ready)
			}
			if a.Unreachable != tt.want.Unreachable {
				t.Errorf("Unreachable = %q, want %q", a.Unreachable, tt.want.Unreachable)
			}
			if a.Superseded != tt.want.Superseded {
				t.Errorf("Superseded = %q, want %q", a.Superseded, tt.want.Superseded)
			}
			if a.Reverted != tt.want.Reverted {
				t.Errorf("Reverted = %q, want %q", a.Reverted, tt.want.Reverted)
			}
			if !a.AsOf.Equal(tt.want.AsOf) {
				t.Errorf("AsOf = %s, want %s", a.AsOf, tt.want.AsOf)
			}
			if tt.check != nil && !t.Failed() {
				tt.check(t, a)
			}
		})
	}
}

func TestAssess_ReadyNeedsEveryCheckOfEveryAllocation(t *testing.T) {
	o := captured(t, "healthy")
	target := helloTarget("ok", 0)
	target.Checks["web"] = 2
	a := Assess(target, o)
	if a.Ready || !slices.Equal(a.Waiting, []string{"1 of 2 checks passing on allocation 3a25d529"}) {
		t.Errorf("one of two checks passing: Ready = %v, Waiting = %q", a.Ready, a.Waiting)
	}

	second := *o.Checks[0]
	second.CheckID += "-2"
	o.Checks = append(o.Checks, &second)
	if a := Assess(target, o); !a.Ready {
		t.Errorf("both checks passing: not ready, Waiting = %q", a.Waiting)
	}
}

func TestProblem_String(t *testing.T) {
	p := Problem{Kind: "check", Alloc: "06c0761d-4224-af8f-62b6-93e19ace0aec", Check: `service: "crit" check`, Status: "critical",
		Output: "HTTP GET http://127.0.0.1:1/health: 500 Internal Server Error"}
	want := `check "service: \"crit\" check" alloc 06c0761d critical: HTTP GET http://127.0.0.1:1/health: 500 Internal Server Error`
	if got := p.String(); got != want {
		t.Errorf("String() =\n %s\nwant\n %s", got, want)
	}
	d := Problem{Kind: "deployment", Status: "failed", Output: "Failed due to progress deadline"}
	if got, want := d.String(), "deployment failed: Failed due to progress deadline"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// waitingMatch compares Waiting lines; a wanted line ending in "[" only
// has to start the line, whose task events follow.
func waitingMatch(got, want []string) bool {
	return slices.EqualFunc(got, want, func(g, w string) bool {
		if strings.HasSuffix(w, "[") {
			return strings.HasPrefix(g, w)
		}
		return g == w
	})
}

// TestAssess_AJobThatMayRunNothingIsNotWaitedFor: a group at count 0 (or
// one the autoscaler may scale to 0) has no allocation to wait for; one
// that does come is judged as usual.
func TestAssess_AJobThatMayRunNothingIsNotWaitedFor(t *testing.T) {
	target := helloTarget("idle", 3)
	target.MayBeIdle = true
	if a := Assess(target, Observation{}); !a.Ready || len(a.Waiting) > 0 {
		t.Errorf("nothing placed, nothing to place: Ready = %v, Waiting = %q", a.Ready, a.Waiting)
	}
	pending := &api.AllocationListStub{ID: "0123456789", JobVersion: 3, TaskGroup: "web",
		DesiredStatus: api.AllocDesiredStatusRun, ClientStatus: api.AllocClientStatusPending}
	if a := Assess(target, Observation{Allocs: []*api.AllocationListStub{pending}}); a.Ready {
		t.Errorf("an allocation of the version is pending: ready, Waiting = %q", a.Waiting)
	}
	target.MayBeIdle = false
	if a := Assess(target, Observation{}); a.Ready {
		t.Error("a job that must run something is ready with no allocation")
	}
}

func TestTargetOf_MayBeIdle(t *testing.T) {
	group := func(count int, scaling *api.ScalingPolicy) *api.TaskGroup {
		return &api.TaskGroup{Name: ptr("web"), Count: &count, Scaling: scaling}
	}
	zeroMin, oneMin, off := int64(0), int64(1), false
	for _, tc := range []struct {
		name   string
		typ    string
		groups []*api.TaskGroup
		want   bool
	}{
		{"count 0", "service", []*api.TaskGroup{group(0, nil)}, true},
		{"count 1", "service", []*api.TaskGroup{group(1, nil)}, false},
		{"one group idle, one not", "service", []*api.TaskGroup{group(0, nil), group(2, nil)}, false},
		{"autoscaler may go to 0", "service", []*api.TaskGroup{group(2, &api.ScalingPolicy{Min: &zeroMin})}, true},
		{"autoscaler keeps 1", "service", []*api.TaskGroup{group(2, &api.ScalingPolicy{Min: &oneMin})}, false},
		{"scaling disabled", "service", []*api.TaskGroup{group(2, &api.ScalingPolicy{Min: &zeroMin, Enabled: &off})}, false},
		{"system job", "system", []*api.TaskGroup{group(0, nil)}, false},
	} {
		job := &api.Job{ID: ptr("j"), Type: &tc.typ, TaskGroups: tc.groups}
		if got := TargetOf(job).MayBeIdle; got != tc.want {
			t.Errorf("%s: MayBeIdle = %v, want %v", tc.name, got, tc.want)
		}
	}
}

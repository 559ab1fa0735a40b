package health

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/state"
)

func TestTracker_Step(t *testing.T) {
	var (
		ready    = Assessment{Ready: true}
		notReady = Assessment{Waiting: []string{"0 of 1 checks passing on allocation 3a25d529"}}
		critical = Assessment{
			Critical: []Problem{{Kind: "check", Alloc: "3a25d529-bbc8", Check: "http", Status: "critical", Output: "500 Internal Server Error"}},
			Waiting:  []string{"0 of 1 checks passing on allocation 3a25d529"},
		}
		failed = Assessment{
			Failed:   []Problem{{Kind: "task", Alloc: "bb6c4636-0e7d", Task: "hello", Status: "restarted 1 times"}},
			Critical: []Problem{{Kind: "check", Alloc: "bb6c4636-0e7d", Check: "http", Status: "critical"}},
		}
		reverted = Assessment{
			Failed:   []Problem{{Kind: "deployment", Status: "failed", Output: "Failed due to progress deadline - rolling back to job version 0"}},
			Reverted: "Failed due to progress deadline - rolling back to job version 0",
		}
		unreachable = Assessment{Unreachable: "consul: connection refused", Waiting: []string{"Consul unreachable: check status unknown"}}
		superseded  = Assessment{Superseded: "job version 3 was registered after version 2"}
	)
	policy := Policy{MinHealthy: 10 * time.Second, Deadline: time.Minute, Bake: 30 * time.Second}

	type step struct {
		at    time.Duration // since the register
		a     Assessment
		phase state.Phase
		// reason, when set, must be in the verdict's Reason.
		reason string
		// problems, when set, are the verdict's Problems by brief.
		problems []string
	}
	tests := []struct {
		name   string
		policy Policy
		steps  []step
	}{{
		name: "ready for min healthy, then through the bake",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 9 * time.Second, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 39 * time.Second, a: ready, phase: state.Baking},
			{at: 40 * time.Second, a: ready, phase: state.Healthy, reason: "healthy for 10s and through the 30s bake"},
		},
	}, {
		name: "a blip restarts min healthy",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 8 * time.Second, a: notReady, phase: state.Watching},
			{at: 9 * time.Second, a: ready, phase: state.Watching},
			{at: 18 * time.Second, a: ready, phase: state.Watching},
			{at: 19 * time.Second, a: ready, phase: state.Baking},
			{at: 49 * time.Second, a: ready, phase: state.Healthy},
		},
	}, {
		name: "not ready while baking is no failure",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 20 * time.Second, a: notReady, phase: state.Baking},
			{at: 30 * time.Second, a: unreachable, phase: state.Baking},
			{at: 40 * time.Second, a: ready, phase: state.Healthy},
		},
	}, {
		name: "a critical check while baking fails",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 20 * time.Second, a: critical, phase: state.Failed,
				reason:   `a check went critical while baking: check "http" alloc 3a25d529 critical: 500 Internal Server Error`,
				problems: []string{"check critical"}},
		},
	}, {
		name: "a critical check while watching is given until the deadline",
		steps: []step{
			{at: 0, a: critical, phase: state.Watching},
			{at: 59 * time.Second, a: critical, phase: state.Watching},
			{at: time.Minute, a: critical, phase: state.Failed,
				reason:   `not healthy by the health deadline: check "http" alloc 3a25d529 critical: 500 Internal Server Error; waiting: 0 of 1 checks passing`,
				problems: []string{"check critical", "waiting"}},
		},
	}, {
		name: "deadline: failed with what is still wrong",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Minute, a: notReady, phase: state.Failed,
				reason: "not healthy by the health deadline: waiting: 0 of 1 checks passing on allocation 3a25d529"},
		},
	}, {
		name: "deadline: ready but not for min healthy",
		steps: []step{
			{at: 55 * time.Second, a: ready, phase: state.Watching},
			{at: time.Minute, a: ready, phase: state.Failed,
				reason: "not healthy by the health deadline: waiting: healthy for 5s of the 10s min healthy time"},
		},
	}, {
		name: "deadline: unknown when a source was unreachable",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Minute, a: unreachable, phase: state.Unknown, reason: "no verdict by the health deadline: consul: connection refused"},
		},
	}, {
		name: "deadline: a critical check fails even with a source unreachable",
		steps: []step{
			{at: time.Minute, a: Assessment{Critical: critical.Critical, Unreachable: "nomad: timeout"}, phase: state.Failed,
				reason: "not healthy by the health deadline: check", problems: []string{"check critical"}},
		},
	}, {
		name: "the deadline does not cut a bake short",
		steps: []step{
			{at: 50 * time.Second, a: ready, phase: state.Watching},
			{at: time.Minute, a: ready, phase: state.Baking},
			{at: 70 * time.Second, a: notReady, phase: state.Baking},
			{at: 90 * time.Second, a: ready, phase: state.Healthy},
		},
	}, {
		name: "failed at once, with the critical checks",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Second, a: failed, phase: state.Failed,
				reason:   "rollout failed: task alloc bb6c4636 task hello restarted 1 times",
				problems: []string{"task hello restarted 1 times", "check critical"}},
		},
	}, {
		name: "failed while baking",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 11 * time.Second, a: failed, phase: state.Failed, reason: "rollout failed: "},
		},
	}, {
		name: "Nomad's auto_revert",
		steps: []step{
			{at: 5 * time.Second, a: reverted, phase: state.Failed,
				reason: "Nomad's auto_revert rolled the job back: deployment failed: Failed due to progress deadline - rolling back to job version 0"},
		},
	}, {
		name: "superseded while watching",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Second, a: superseded, phase: state.Superseded, reason: "job version 3 was registered after version 2"},
		},
	}, {
		name: "superseded wins over failed",
		steps: []step{
			{at: time.Second, a: Assessment{Superseded: "deployment cancelled: Cancelled due to newer version of job", Failed: failed.Failed},
				phase: state.Superseded, reason: "deployment cancelled"},
		},
	}, {
		name: "superseded while baking",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 20 * time.Second, a: superseded, phase: state.Superseded},
		},
	}, {
		name:   "bake 0: healthy as soon as min healthy passes",
		policy: Policy{MinHealthy: 10 * time.Second, Deadline: time.Minute},
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Healthy},
		},
	}, {
		name:   "min healthy and bake 0: healthy when first ready",
		policy: Policy{Deadline: time.Minute},
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Second, a: ready, phase: state.Healthy},
		},
	}, {
		name: "failed stays failed",
		steps: []step{
			{at: time.Second, a: failed, phase: state.Failed},
			{at: 2 * time.Second, a: ready, phase: state.Failed},
			{at: time.Hour, a: ready, phase: state.Failed},
		},
	}, {
		name: "healthy stays healthy",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 40 * time.Second, a: ready, phase: state.Healthy},
			{at: 41 * time.Second, a: failed, phase: state.Healthy},
			{at: 42 * time.Second, a: superseded, phase: state.Healthy},
		},
	}, {
		name: "unknown stays unknown",
		steps: []step{
			{at: time.Minute, a: unreachable, phase: state.Unknown},
			{at: 2 * time.Minute, a: critical, phase: state.Unknown},
		},
	}}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p == (Policy{}) {
				p = policy
			}
			tr := NewTracker(p, t0.Add(p.Deadline))
			for i, s := range tt.steps {
				v := tr.Step(t0.Add(s.at), s.a)
				if v.Phase != s.phase {
					t.Fatalf("step %d at %s: phase %s, want %s (reason %q)", i, s.at, v.Phase, s.phase, v.Reason)
				}
				if v.Final() == s.phase.InFlight() {
					t.Errorf("step %d: Final() = %v in phase %s", i, v.Final(), v.Phase)
				}
				if !strings.Contains(v.Reason, s.reason) {
					t.Errorf("step %d: reason %q, want it to contain %q", i, v.Reason, s.reason)
				}
				if v.Final() && i > 0 && !tt.steps[i-1].phase.InFlight() && v.Reason != "" {
					t.Errorf("step %d: a verdict after the final one has reason %q", i, v.Reason)
				}
				if s.problems != nil {
					got := brief(v.Problems)
					if !slices.Equal(got, s.problems) {
						t.Errorf("step %d: problems %q, want %q", i, got, s.problems)
					}
				}
			}
		})
	}
}

func TestTracker_HealthySince(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(Policy{MinHealthy: 10 * time.Second, Deadline: time.Minute, Bake: 30 * time.Second}, t0.Add(time.Minute))
	if v := tr.Step(t0, Assessment{}); !v.HealthySince.IsZero() {
		t.Errorf("not ready: HealthySince = %s, want zero", v.HealthySince)
	}
	tr.Step(t0.Add(5*time.Second), Assessment{Ready: true})
	v := tr.Step(t0.Add(15*time.Second), Assessment{Ready: true})
	if v.Phase != state.Baking || !v.HealthySince.Equal(t0.Add(5*time.Second)) {
		t.Errorf("baking: phase %s, HealthySince %s, want baking since %s", v.Phase, v.HealthySince, t0.Add(5*time.Second))
	}
	v = tr.Step(t0.Add(45*time.Second), Assessment{Ready: true})
	if v.Phase != state.Healthy || !v.HealthySince.Equal(t0.Add(5*time.Second)) {
		t.Errorf("healthy: phase %s, HealthySince %s, want healthy since %s", v.Phase, v.HealthySince, t0.Add(5*time.Second))
	}
}

func TestTracker_VerdictCarriesTheAssessment(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(DefaultPolicy(), t0.Add(DefaultPolicy().Deadline))
	a := Assessment{Waiting: []string{"Consul unreachable: check status unknown"}, Unreachable: "consul: connection refused"}
	v := tr.Step(t0, a)
	if v.Phase != state.Watching || v.Unreachable != a.Unreachable || !slices.Equal(v.Waiting, a.Waiting) {
		t.Errorf("verdict = %+v, want watching with the assessment's Waiting and Unreachable", v)
	}
	r := "Failed due to unhealthy allocations - rolling back to job version 4"
	v = tr.Step(t0.Add(time.Second), Assessment{Failed: []Problem{{Kind: "deployment", Status: "failed", Output: r}}, Reverted: r})
	if v.Reverted != r {
		t.Errorf("Reverted = %q, want %q", v.Reverted, r)
	}
}

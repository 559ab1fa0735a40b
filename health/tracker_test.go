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
		at time.Duration // since the register
		// asOf is how fresh the assessment's data is, since the
		// register: nil means as fresh as at, never that an input has not
		// answered yet.
		asOf  *time.Duration
		a     Assessment
		phase state.Phase
		// unresolved: an unknown verdict that is final.
		unresolved bool
		// needFresh is the verdict's NeedFresh since the register; nil
		// means none.
		needFresh *time.Duration
		// deadline, when set, is the verdict's Deadline since the register.
		deadline time.Duration
		// recheck, when set, is the verdict's Recheck since the register
		// (never: none).
		recheck *time.Duration
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
			{at: 0, a: ready, phase: state.Watching, recheck: d(10 * time.Second)},
			{at: 9 * time.Second, a: ready, phase: state.Watching, recheck: d(10 * time.Second)},
			{at: 10 * time.Second, a: ready, phase: state.Baking, recheck: d(40 * time.Second)},
			{at: 39 * time.Second, a: ready, phase: state.Baking, recheck: d(40 * time.Second)},
			{at: 40 * time.Second, a: ready, phase: state.Healthy, reason: "healthy for 10s and through the 30s bake", recheck: never},
		},
	}, {
		name:   "a check critical past fail-after fails before the deadline",
		policy: Policy{MinHealthy: 10 * time.Second, Deadline: time.Minute, Bake: 30 * time.Second, FailAfter: 15 * time.Second, StartGrace: 5 * time.Second},
		steps: []step{
			{at: 2 * time.Second, a: critical, phase: state.Watching, recheck: d(22 * time.Second)},
			{at: 21 * time.Second, a: critical, phase: state.Watching, recheck: d(22 * time.Second)},
			{at: 22 * time.Second, a: critical, phase: state.Failed, reason: "a check stayed critical for 20s", problems: []string{"check critical"}},
		},
	}, {
		name:   "fail-after waits for data as new as the moment it judges",
		policy: Policy{MinHealthy: 10 * time.Second, Deadline: time.Minute, Bake: 30 * time.Second, FailAfter: 15 * time.Second},
		steps: []step{
			{at: 2 * time.Second, a: critical, phase: state.Watching},
			{at: 18 * time.Second, asOf: d(16 * time.Second), a: critical, phase: state.Watching, needFresh: d(17 * time.Second)},
			{at: 19 * time.Second, asOf: d(18 * time.Second), a: critical, phase: state.Failed},
		},
	}, {
		name:   "a check that passes again restarts the fail-after clock",
		policy: Policy{MinHealthy: 10 * time.Second, Deadline: time.Minute, Bake: 30 * time.Second, FailAfter: 15 * time.Second},
		steps: []step{
			{at: 0, a: critical, phase: state.Watching},
			{at: 14 * time.Second, a: notReady, phase: state.Watching},
			{at: 15 * time.Second, a: critical, phase: state.Watching},
			{at: 29 * time.Second, a: critical, phase: state.Watching},
			{at: 30 * time.Second, a: critical, phase: state.Failed},
		},
	}, {
		name:   "silence stops no fail-after clock and starts none",
		policy: Policy{MinHealthy: 10 * time.Second, Deadline: time.Minute, Bake: 30 * time.Second, FailAfter: 15 * time.Second},
		steps: []step{
			{at: 0, a: critical, phase: state.Watching},
			{at: 20 * time.Second, a: unreachable, phase: state.Watching},
			{at: 21 * time.Second, a: critical, phase: state.Failed},
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
		name: "deadline: unknown when an input was unreachable",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Minute, a: unreachable, phase: state.Unknown, needFresh: d(time.Minute),
				reason: "no verdict by the health deadline: consul: connection refused"},
		},
	}, {
		name: "deadline: a critical check fails even with an input unreachable",
		steps: []step{
			{at: time.Minute, a: Assessment{Critical: critical.Critical, Unreachable: "nomad: timeout"}, phase: state.Failed,
				reason: "not healthy by the health deadline: check", problems: []string{"check critical"}},
		},
	}, {
		name: "deadline: a critical check seen before it is unknown with an input unreachable",
		steps: []step{
			{at: time.Minute, asOf: d(50 * time.Second), a: Assessment{Critical: critical.Critical, Unreachable: "nomad: timeout"},
				phase: state.Unknown, needFresh: d(time.Minute)},
		},
	}, {
		// Item 8: Consul hung from the start of the watch.
		name: "deadline: unknown, not failed, when an input never answered",
		steps: []step{
			{at: 0, asOf: never, a: Assessment{Waiting: []string{"waiting for Consul's first answer"}}, phase: state.Watching},
			{at: 10 * time.Second, asOf: never, a: unreachable, phase: state.Watching},
			{at: time.Minute, asOf: never, a: unreachable, phase: state.Unknown, needFresh: d(time.Minute),
				reason: "no verdict by the health deadline: consul: connection refused"},
		},
	}, {
		name: "deadline: waits for data as new as the deadline",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Minute, asOf: d(0), a: notReady, phase: state.Watching, needFresh: d(time.Minute)},
			{at: 61 * time.Second, asOf: d(61 * time.Second), a: notReady, phase: state.Failed,
				reason: "not healthy by the health deadline: waiting: 0 of 1 checks passing"},
		},
	}, {
		name: "deadline: ready before it, shown by data after it",
		steps: []step{
			{at: 45 * time.Second, a: ready, phase: state.Watching},
			{at: 59 * time.Second, asOf: d(50 * time.Second), a: ready, phase: state.Watching, needFresh: d(55 * time.Second)},
			{at: 62 * time.Second, asOf: d(61 * time.Second), a: ready, phase: state.Baking},
		},
	}, {
		name: "deadline: min healthy reached only after it fails",
		steps: []step{
			{at: 55 * time.Second, a: ready, phase: state.Watching},
			{at: 66 * time.Second, asOf: d(66 * time.Second), a: ready, phase: state.Failed,
				reason: "not healthy by the health deadline: waiting: healthy for 11s of the 10s min healthy time"},
		},
	}, {
		name: "min healthy needs data as new as its end",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, asOf: d(9 * time.Second), a: ready, phase: state.Watching, needFresh: d(10 * time.Second)},
			{at: 11 * time.Second, asOf: d(10 * time.Second), a: ready, phase: state.Baking},
		},
	}, {
		name: "min healthy counts from when ready was seen, not from the data's age",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			// A blocking query sent at 0 returned at 20s: ready since
			// some time after 0, not since 0.
			{at: 20 * time.Second, asOf: d(0), a: ready, phase: state.Watching},
			{at: 25 * time.Second, a: ready, phase: state.Watching},
			{at: 30 * time.Second, a: ready, phase: state.Baking},
		},
	}, {
		// Item 7: Consul stopped answering during the bake.
		name: "stale data never gives healthy; then a critical check seen fails",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 20 * time.Second, asOf: d(20 * time.Second), a: ready, phase: state.Baking},
			{at: 40 * time.Second, asOf: d(20 * time.Second), a: ready, phase: state.Baking, needFresh: d(40 * time.Second)},
			{at: 90 * time.Second, asOf: d(20 * time.Second), a: ready, phase: state.Baking, needFresh: d(40 * time.Second)},
			{at: 91 * time.Second, a: critical, phase: state.Failed, reason: "a check went critical while baking: "},
		},
	}, {
		name:   "bake over with an input unreachable: baking until the deadline and min healthy past the bake, then unknown",
		policy: Policy{MinHealthy: 10 * time.Second, Deadline: 2 * time.Minute, Bake: 30 * time.Second},
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 30 * time.Second, asOf: d(25 * time.Second), a: unreachable, phase: state.Baking},
			{at: 40 * time.Second, asOf: d(25 * time.Second), a: unreachable, phase: state.Baking, needFresh: d(40 * time.Second)},
			{at: 119 * time.Second, asOf: d(25 * time.Second), a: unreachable, phase: state.Baking, needFresh: d(40 * time.Second)},
			{at: 2 * time.Minute, asOf: d(25 * time.Second), a: unreachable, phase: state.Unknown, needFresh: d(2 * time.Minute),
				reason: "bake over without fresh data: consul: connection refused"},
		},
	}, {
		name: "bake over with an input unreachable past the deadline: unknown after min healthy",
		steps: []step{
			{at: 45 * time.Second, a: ready, phase: state.Watching},
			{at: 55 * time.Second, a: ready, phase: state.Baking},
			{at: 85 * time.Second, asOf: d(80 * time.Second), a: unreachable, phase: state.Baking, needFresh: d(85 * time.Second)},
			{at: 94 * time.Second, asOf: d(80 * time.Second), a: unreachable, phase: state.Baking, needFresh: d(85 * time.Second)},
			{at: 95 * time.Second, asOf: d(80 * time.Second), a: unreachable, phase: state.Unknown, needFresh: d(95 * time.Second)},
		},
	}, {
		name: "bake over: healthy once an input back gives fresh data",
		steps: []step{
			{at: 0, a: ready, phase: state.Watching},
			{at: 10 * time.Second, a: ready, phase: state.Baking},
			{at: 40 * time.Second, asOf: d(30 * time.Second), a: unreachable, phase: state.Baking, needFresh: d(40 * time.Second)},
			{at: 45 * time.Second, asOf: d(44 * time.Second), a: ready, phase: state.Healthy},
		},
	}, {
		// Item 10.
		name: "unknown, then fresh data with a critical check: re-judged with a new deadline, failed",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Minute, asOf: d(30 * time.Second), a: unreachable, phase: state.Unknown, needFresh: d(time.Minute)},
			{at: 2 * time.Minute, asOf: d(30 * time.Second), a: unreachable, phase: state.Unknown, needFresh: d(time.Minute),
				reason: "no verdict by the health deadline: consul: connection refused"},
			// Answers again, but with data from before it went unknown.
			{at: 3 * time.Minute, asOf: d(50 * time.Second), a: critical, phase: state.Unknown, needFresh: d(time.Minute)},
			{at: 4 * time.Minute, a: critical, phase: state.Watching, deadline: 5 * time.Minute},
			{at: 5 * time.Minute, a: critical, phase: state.Failed, reason: `not healthy by the health deadline: check "http"`},
		},
	}, {
		name: "unknown, then fresh data with a failure: failed at once",
		steps: []step{
			{at: time.Minute, a: unreachable, phase: state.Unknown, needFresh: d(time.Minute)},
			{at: 2 * time.Minute, asOf: d(30 * time.Second), a: failed, phase: state.Failed, reason: "rollout failed: "},
		},
	}, {
		name: "unknown, then fresh healthy data: healthy after min healthy and the bake",
		steps: []step{
			{at: time.Minute, a: unreachable, phase: state.Unknown, needFresh: d(time.Minute)},
			{at: 2 * time.Minute, a: ready, phase: state.Watching, deadline: 3 * time.Minute},
			{at: 2*time.Minute + 10*time.Second, a: ready, phase: state.Baking},
			{at: 2*time.Minute + 39*time.Second, a: ready, phase: state.Baking},
			{at: 2*time.Minute + 40*time.Second, a: ready, phase: state.Healthy},
		},
	}, {
		name: "unknown for the unresolved window: final",
		steps: []step{
			{at: time.Minute, a: unreachable, phase: state.Unknown, needFresh: d(time.Minute)},
			{at: 30 * time.Minute, asOf: d(0), a: unreachable, phase: state.Unknown, needFresh: d(time.Minute)},
			{at: 31 * time.Minute, asOf: d(0), a: unreachable, phase: state.Unknown, unresolved: true,
				reason: "no verdict for 30m: consul: connection refused; a bad version may be running"},
			// Final: the truth arriving now changes nothing.
			{at: 32 * time.Minute, a: critical, phase: state.Unknown, unresolved: true},
		},
	}, {
		name: "a due verdict stale for the unresolved window without an error: final",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching},
			{at: time.Minute, asOf: d(0), a: notReady, phase: state.Watching, needFresh: d(time.Minute)},
			{at: 31 * time.Minute, asOf: d(0), a: notReady, phase: state.Unknown, unresolved: true,
				reason: "no verdict for 30m: no data newer than 2025-06-01T12:01:00Z; a bad version may be running"},
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
		name: "unknown stays unknown while an input is unreachable",
		steps: []step{
			{at: time.Minute, a: unreachable, phase: state.Unknown, needFresh: d(time.Minute), recheck: d(31 * time.Minute)},
			{at: 2 * time.Minute, a: unreachable, phase: state.Unknown, needFresh: d(time.Minute), recheck: d(31 * time.Minute)},
		},
	}, {
		name: "not ready: the deadline is the next moment the clock matters",
		steps: []step{
			{at: 0, a: notReady, phase: state.Watching, recheck: d(time.Minute)},
			{at: 30 * time.Second, a: ready, phase: state.Watching, recheck: d(40 * time.Second)},
			// Min healthy would end past the deadline: the deadline judges.
			{at: 55 * time.Second, a: notReady, phase: state.Watching, recheck: d(time.Minute)},
			{at: 56 * time.Second, a: ready, phase: state.Watching, recheck: d(time.Minute)},
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
			final := false
			for i, s := range tt.steps {
				a := s.a
				switch s.asOf {
				case nil:
					a.AsOf = t0.Add(s.at)
				case never:
				default:
					a.AsOf = t0.Add(*s.asOf)
				}
				v := tr.Step(t0.Add(s.at), a)
				if v.Phase != s.phase {
					t.Fatalf("step %d at %s: phase %s, want %s (reason %q)", i, s.at, v.Phase, s.phase, v.Reason)
				}
				if v.Unresolved != s.unresolved {
					t.Errorf("step %d: Unresolved = %v, want %v", i, v.Unresolved, s.unresolved)
				}
				wantFinal := s.phase == state.Healthy || s.phase == state.Failed || s.phase == state.Superseded || s.unresolved
				if v.Final() != wantFinal {
					t.Errorf("step %d: Final() = %v in phase %s", i, v.Final(), v.Phase)
				}
				var wantNeed time.Time
				if s.needFresh != nil {
					wantNeed = t0.Add(*s.needFresh)
				}
				if !v.NeedFresh.Equal(wantNeed) {
					t.Errorf("step %d: NeedFresh = %s, want %s", i, v.NeedFresh, wantNeed)
				}
				switch s.recheck {
				case nil:
				case never:
					if !v.Recheck.IsZero() {
						t.Errorf("step %d: Recheck = %s, want none", i, v.Recheck)
					}
				default:
					if want := t0.Add(*s.recheck); !v.Recheck.Equal(want) {
						t.Errorf("step %d: Recheck = %s, want %s", i, v.Recheck, want)
					}
				}
				if s.deadline != 0 && !v.Deadline.Equal(t0.Add(s.deadline)) {
					t.Errorf("step %d: Deadline = %s, want %s", i, v.Deadline, t0.Add(s.deadline))
				}
				if !strings.Contains(v.Reason, s.reason) {
					t.Errorf("step %d: reason %q, want it to contain %q", i, v.Reason, s.reason)
				}
				if final && v.Reason != "" {
					t.Errorf("step %d: a verdict after the final one has reason %q", i, v.Reason)
				}
				final = v.Final()
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
	ready := func(at time.Duration) Assessment { return Assessment{Ready: true, AsOf: t0.Add(at)} }
	if v := tr.Step(t0, Assessment{AsOf: t0}); !v.HealthySince.IsZero() {
		t.Errorf("not ready: HealthySince = %s, want zero", v.HealthySince)
	}
	tr.Step(t0.Add(5*time.Second), ready(5*time.Second))
	v := tr.Step(t0.Add(15*time.Second), ready(15*time.Second))
	if v.Phase != state.Baking || !v.HealthySince.Equal(t0.Add(5*time.Second)) {
		t.Errorf("baking: phase %s, HealthySince %s, want baking since %s", v.Phase, v.HealthySince, t0.Add(5*time.Second))
	}
	v = tr.Step(t0.Add(45*time.Second), ready(45*time.Second))
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

// d is a duration to point at, for the optional fields of a table.
func d(x time.Duration) *time.Duration { return &x }

// never is a step's asOf when an input has not answered yet.
var never = d(-1)

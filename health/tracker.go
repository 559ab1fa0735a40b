package health

import (
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover/state"
)

// Policy is when a rollout counts as healthy or failed.
type Policy struct {
	// MinHealthy is how long everything must be healthy without a break.
	MinHealthy time.Duration
	// Deadline is how long a rollout has to become healthy, from its
	// register.
	Deadline time.Duration
	// Bake is how long a healthy rollout is still watched: a check going
	// critical in it fails the rollout.
	Bake time.Duration
}

// DefaultPolicy is the policy of the flags' defaults.
var DefaultPolicy = Policy{MinHealthy: 10 * time.Second, Deadline: 5 * time.Minute, Bake: time.Minute}

// Verdict is where a rollout stands.
type Verdict struct {
	Phase state.Phase
	// HealthySince is when the rollout last became healthy; zero when not.
	HealthySince time.Time
	// Reason sums up a final verdict in one line.
	Reason string
	// Problems are what failed the rollout, or what was still wrong when
	// its deadline passed.
	Problems []Problem
	// Waiting is why a rollout in flight is not healthy yet.
	Waiting []string
	// Unreachable names the source that could not be asked, "" if none.
	Unreachable string
	// Reverted is set when Nomad's auto_revert rolled the job back.
	Reverted string
}

// Final reports whether the verdict ends the watch.
func (v Verdict) Final() bool { return !v.Phase.InFlight() }

// Tracker turns a sequence of assessments into a verdict. It is a pure
// state machine over the times it is given.
type Tracker struct {
	policy     Policy
	deadline   time.Time
	phase      state.Phase
	readySince time.Time
	bakeStart  time.Time
}

// NewTracker starts judging a rollout that must be healthy by deadline.
func NewTracker(p Policy, deadline time.Time) *Tracker {
	return &Tracker{policy: p, deadline: deadline, phase: state.Watching}
}

// Step folds one assessment made at now into the verdict.
func (t *Tracker) Step(now time.Time, a Assessment) Verdict {
	v := Verdict{Phase: t.phase, Waiting: a.Waiting, Unreachable: a.Unreachable, Reverted: a.Reverted}
	if !t.phase.InFlight() {
		return v
	}
	switch {
	case a.Superseded != "":
		return t.end(v, state.Superseded, a.Superseded, nil)
	case len(a.Failed) > 0:
		reason := "rollout failed: " + summary(a.Failed)
		if a.Reverted != "" {
			reason = "Nomad's auto_revert rolled the job back: " + summary(a.Failed)
		}
		return t.end(v, state.Failed, reason, append(a.Failed, a.Critical...))
	}

	if t.phase == state.Watching {
		if a.Ready {
			if t.readySince.IsZero() {
				t.readySince = now
			}
			if now.Sub(t.readySince) >= t.policy.MinHealthy {
				t.phase, t.bakeStart = state.Baking, now
			}
		} else {
			t.readySince = time.Time{}
		}
	}
	switch t.phase {
	case state.Watching:
		if now.Before(t.deadline) {
			break
		}
		if a.Unreachable != "" && len(a.Critical) == 0 {
			// Unknown is not failed: never roll back on silence alone.
			return t.end(v, state.Unknown, "no verdict by the health deadline: "+a.Unreachable, nil)
		}
		problems := a.Critical
		for _, w := range a.Waiting {
			problems = append(problems, Problem{Kind: "waiting", Output: w})
		}
		return t.end(v, state.Failed, "not healthy by the health deadline: "+summary(problems), problems)
	case state.Baking:
		if len(a.Critical) > 0 {
			return t.end(v, state.Failed, "a check went critical while baking: "+summary(a.Critical), a.Critical)
		}
		if now.Sub(t.bakeStart) >= t.policy.Bake {
			return t.end(v, state.Healthy, fmt.Sprintf("healthy for %s and through the %s bake", t.policy.MinHealthy, t.policy.Bake), nil)
		}
	}
	v.Phase, v.HealthySince = t.phase, t.readySince
	return v
}

func (t *Tracker) end(v Verdict, p state.Phase, reason string, problems []Problem) Verdict {
	t.phase = p
	v.Phase, v.Reason, v.Problems, v.HealthySince = p, reason, problems, t.readySince
	return v
}

func summary(ps []Problem) string {
	if len(ps) == 0 {
		return "no detail"
	}
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, "; ")
}

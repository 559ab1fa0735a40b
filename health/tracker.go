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
func DefaultPolicy() Policy {
	return Policy{MinHealthy: 10 * time.Second, Deadline: 5 * time.Minute, Bake: time.Minute}
}

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
	// cause is Reason without the problems, to rebuild it once they are
	// explained better.
	cause string
}

// explain fills in the output of critical checks from live outputs (by
// check ID), and rebuilds the reason.
func (v *Verdict) explain(outputs map[string]string) {
	changed := false
	for i, p := range v.Problems {
		if out := strings.TrimSpace(outputs[p.CheckID]); p.Kind == "check" && p.Output == "" && out != "" {
			v.Problems[i].Output = clip(out, 300)
			changed = true
		}
	}
	if changed && v.cause != "" {
		v.Reason = v.cause + summary(v.Problems)
	}
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
		v.Reason = a.Superseded
		return t.end(v, state.Superseded, "", nil)
	case len(a.Failed) > 0:
		cause := "rollout failed: "
		if a.Reverted != "" {
			cause = "Nomad's auto_revert rolled the job back: "
		}
		return t.end(v, state.Failed, cause, append(a.Failed, a.Critical...))
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
			v.Reason = "no verdict by the health deadline: " + a.Unreachable
			return t.end(v, state.Unknown, "", nil)
		}
		problems := a.Critical
		if a.Ready {
			// Ready, but not for long enough: say so, not "no detail".
			problems = append(problems, Problem{Kind: "waiting", Output: fmt.Sprintf("healthy for %s of the %s min healthy time", now.Sub(t.readySince), t.policy.MinHealthy)})
		}
		for _, w := range a.Waiting {
			problems = append(problems, Problem{Kind: "waiting", Output: w})
		}
		return t.end(v, state.Failed, "not healthy by the health deadline: ", problems)
	case state.Baking:
		if len(a.Critical) > 0 {
			return t.end(v, state.Failed, "a check went critical while baking: ", a.Critical)
		}
		if now.Sub(t.bakeStart) >= t.policy.Bake {
			v.Reason = fmt.Sprintf("healthy for %s and through the %s bake", t.policy.MinHealthy, t.policy.Bake)
			return t.end(v, state.Healthy, "", nil)
		}
	}
	v.Phase, v.HealthySince = t.phase, t.readySince
	return v
}

// end makes v final. A failure's reason is its cause followed by its
// problems; other verdicts bring their own reason.
func (t *Tracker) end(v Verdict, p state.Phase, cause string, problems []Problem) Verdict {
	t.phase = p
	v.Phase, v.Problems, v.HealthySince = p, problems, t.readySince
	if cause != "" {
		v.cause, v.Reason = cause, cause+summary(problems)
	}
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

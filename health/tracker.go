package health

import (
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/state"
)

// Problem is one thing wrong with a rollout. A failed verdict's problems
// are what the rollout.failed event carries, so it is the schema's type.
type Problem = api.Problem

// Policy is when a rollout counts as healthy or failed.
type Policy struct {
	// MinHealthy is how long everything must be healthy without a break.
	MinHealthy time.Duration
	// FailAfter fails a rollout as soon as one of its checks has been
	// critical without a break for this long (plus StartGrace), instead
	// of waiting for the deadline; 0 waits for the deadline.
	FailAfter time.Duration
	// StartGrace is added to FailAfter for a job whose tasks take time to
	// start answering: its groups' min_healthy_time and its checks'
	// check_restart grace, the longest of them.
	StartGrace time.Duration
	// Deadline is how long a rollout has to become healthy, from its
	// register, and again from each re-judging of an unknown rollout.
	Deadline time.Duration
	// Bake is how long a healthy rollout is still watched: a check going
	// critical in it fails the rollout.
	Bake time.Duration
	// Unresolved is how long a rollout may stay unknown (its inputs
	// unreachable or stale) before that is its final verdict; 0 means the
	// default, 30m.
	Unresolved time.Duration
}

// DefaultPolicy is the policy of the flags' defaults.
func DefaultPolicy() Policy {
	return Policy{MinHealthy: 10 * time.Second, Deadline: 5 * time.Minute, Bake: time.Minute, FailAfter: time.Minute, Unresolved: 30 * time.Minute}
}

// Verdict is where a rollout stands.
type Verdict struct {
	Phase state.Phase
	// HealthySince is when the rollout last became healthy; zero when not.
	HealthySince time.Time
	// Reason sums up a final verdict in one line, and why a rollout is
	// unknown.
	Reason string
	// Problems are what failed the rollout, or what was still wrong when
	// its deadline passed.
	Problems []Problem
	// Waiting is why a rollout in flight is not healthy yet.
	Waiting []string
	// Unreachable names the input that could not be asked, "" if none.
	Unreachable string
	// Reverted is set when Nomad's auto_revert rolled the job back.
	Reverted string
	// Unresolved is set on an unknown verdict that is final: no input
	// gave fresh data for Policy.Unresolved, so a bad version may be
	// running.
	Unresolved bool
	// NeedFresh, when set, is the time the data must be at least as new
	// as for the verdict due by the clock (the end of min healthy or of
	// the bake, the deadline, or the moment the rollout went unknown): the
	// watcher asks its inputs for a fresh read.
	NeedFresh time.Time
	// AsOf is how fresh the data behind the verdict is (Assessment.AsOf).
	AsOf time.Time
	// Deadline is the current health deadline: the register's, or that of
	// the latest re-judging of an unknown rollout.
	Deadline time.Time
	// Recheck is the next moment the clock alone could change the verdict
	// (min healthy over, the bake over, a check critical for fail-after,
	// the deadline, the unresolved limit); zero when only new data can.
	// Between news from the inputs the watcher steps the tracker then,
	// not on a fixed tick.
	Recheck time.Time
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

// Final reports whether the verdict ends the watch. Unknown is final only
// once unresolved: until then the truth may still arrive.
func (v Verdict) Final() bool {
	switch v.Phase {
	case state.Healthy, state.Failed, state.Superseded:
		return true
	case state.Unknown:
		return v.Unresolved
	}
	return false
}

// Tracker turns a sequence of assessments into a verdict. It is a pure
// state machine over the times it is given.
//
// A verdict may only come from data fresher than the window it judges:
// each transition due by the clock (min healthy passed, the bake over,
// the deadline reached) waits for an assessment whose AsOf is at least
// the moment it judges, and says so in Verdict.NeedFresh meanwhile. A
// failure seen in the data (a failed allocation or deployment, a check
// critical while baking) fails the rollout at once whatever its age:
// it was seen, and it does not undo itself.
type Tracker struct {
	policy     Policy
	deadline   time.Time
	phase      state.Phase
	final      bool
	unresolved bool
	readySince time.Time
	bakeStart  time.Time
	// unknownSince is when the rollout went unknown, and unknownReason why.
	unknownSince  time.Time
	unknownReason string
	// staleSince is when a transition due by the clock first waited for
	// fresher data; zero when none waits.
	staleSince time.Time
	// critical is, by allocation and check, since when a check of the
	// rollout has been critical without a break, for FailAfter.
	critical map[string]time.Time
}

// NewTracker starts judging a rollout that must be healthy by deadline.
func NewTracker(p Policy, deadline time.Time) *Tracker {
	if p.Unresolved <= 0 {
		p.Unresolved = DefaultPolicy().Unresolved
	}
	return &Tracker{policy: p, deadline: deadline, phase: state.Watching, critical: map[string]time.Time{}}
}

// Step folds one assessment made at now into the verdict.
func (t *Tracker) Step(now time.Time, a Assessment) Verdict {
	v := Verdict{Phase: t.phase, Waiting: a.Waiting, Unreachable: a.Unreachable, Reverted: a.Reverted, AsOf: a.AsOf, Deadline: t.deadline}
	if t.final {
		v.Unresolved = t.unresolved
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

	if t.phase == state.Unknown {
		if !t.rejudge(now, a) {
			return t.stayUnknown(now, a, v)
		}
		v.Deadline = t.deadline
	}

	// need is the time the data must reach for the transition due now;
	// recheck, the next time a transition comes due by the clock.
	var need, recheck time.Time
	soon := func(at time.Time) {
		if at.After(now) && (recheck.IsZero() || at.Before(recheck)) {
			recheck = at
		}
	}
	if t.phase == state.Watching {
		stuck, due, next := t.stillCritical(now, a)
		switch {
		case len(stuck) > 0 && fresh(a, due):
			return t.end(v, state.Failed, fmt.Sprintf("a check stayed critical for %s: ", t.policy.FailAfter+t.policy.StartGrace), stuck)
		case len(stuck) > 0:
			need = due
		}
		soon(next)
	}
	if t.phase == state.Watching {
		if a.Ready {
			if t.readySince.IsZero() {
				// Now, not a.AsOf: a blocking query sent at AsOf may
				// have returned because the job became ready long after
				// it was sent, so AsOf could credit health that was not
				// there. Now is no earlier than the moment the ready
				// state was seen.
				t.readySince = now
			}
			// Healthy for min healthy only after the deadline is not
			// healthy by the deadline: that rule below judges it.
			if due := t.readySince.Add(t.policy.MinHealthy); !now.Before(due) && !due.After(t.deadline) {
				if fresh(a, due) {
					t.phase, t.bakeStart = state.Baking, now
				} else {
					need = due
				}
			} else if !due.After(t.deadline) {
				soon(due)
			}
		} else {
			t.readySince = time.Time{}
		}
	}
	switch t.phase {
	case state.Watching:
		if now.Before(t.deadline) {
			soon(t.deadline)
			break
		}
		if a.Unreachable != "" && (len(a.Critical) == 0 || a.AsOf.Before(t.deadline)) {
			// Unknown is not failed: never roll back on silence alone.
			return t.goUnknown(now, v, "no verdict by the health deadline: "+a.Unreachable)
		}
		if a.AsOf.Before(t.deadline) {
			// The inputs answer, but the data predates the deadline:
			// the watcher's fresh read gives data or an error within
			// its call timeout.
			need = t.deadline
			break
		}
		problems := a.Critical
		if a.Ready {
			// Ready, but not for long enough: say so, not "no detail".
			problems = append(problems, Problem{Kind: "waiting", Output: fmt.Sprintf("healthy for %s of the %s min healthy time", max(0, a.AsOf.Sub(t.readySince)), t.policy.MinHealthy)})
		}
		for _, w := range a.Waiting {
			problems = append(problems, Problem{Kind: "waiting", Output: w})
		}
		return t.end(v, state.Failed, "not healthy by the health deadline: ", problems)
	case state.Baking:
		if len(a.Critical) > 0 {
			return t.end(v, state.Failed, "a check went critical while baking: ", a.Critical)
		}
		bakeEnd := t.bakeStart.Add(t.policy.Bake)
		if now.Before(bakeEnd) {
			soon(bakeEnd)
			break
		}
		if a.Unreachable == "" && fresh(a, bakeEnd) {
			v.Reason = fmt.Sprintf("healthy for %s and through the %s bake", t.policy.MinHealthy, t.policy.Bake)
			return t.end(v, state.Healthy, "", nil)
		}
		need = bakeEnd
		// An input unreachable at the end of the bake is given as long as
		// the rollout had to prove health anyway (its deadline) and at
		// least min healthy past the bake, the blip a rollout itself is
		// allowed: going unknown means proving health again from scratch.
		giveUp := later(t.deadline, bakeEnd.Add(t.policy.MinHealthy))
		if a.Unreachable != "" && !now.Before(giveUp) {
			return t.goUnknown(now, v, "bake over without fresh data: "+a.Unreachable)
		}
		soon(giveUp)
	}

	if need.IsZero() {
		t.staleSince = time.Time{}
	} else {
		// A backstop: the watcher turns an input that does not answer
		// into an error within its call timeout, but should data stay
		// stale with no error, the wait still ends.
		if t.staleSince.IsZero() {
			t.staleSince = now
		}
		if now.Sub(t.staleSince) >= t.policy.Unresolved {
			return t.resolveUnknown(v, fmt.Sprintf("no data newer than %s", need.UTC().Format(time.RFC3339)))
		}
		soon(t.staleSince.Add(t.policy.Unresolved))
	}
	v.Phase, v.HealthySince, v.NeedFresh, v.Recheck = t.phase, t.readySince, need, recheck
	return v
}

// fresh reports whether the assessment's data is at least as new as at.
func fresh(a Assessment, at time.Time) bool {
	return !a.AsOf.IsZero() && !a.AsOf.Before(at)
}

// goUnknown makes the rollout unknown: not final, it is re-judged when
// every input it needs answers again.
func (t *Tracker) goUnknown(now time.Time, v Verdict, reason string) Verdict {
	t.phase, t.unknownSince, t.unknownReason, t.staleSince = state.Unknown, now, reason, time.Time{}
	t.readySince, t.bakeStart = time.Time{}, time.Time{}
	v.Phase, v.Reason, v.NeedFresh, v.Recheck = state.Unknown, reason, now, now.Add(t.policy.Unresolved)
	return v
}

// rejudge starts an unknown rollout over once every input it needs has
// answered with data newer than the moment it went unknown: a full new
// deadline to prove health, as health seen before the gap says nothing
// about the version now.
func (t *Tracker) rejudge(now time.Time, a Assessment) bool {
	if a.Unreachable != "" || !fresh(a, t.unknownSince) {
		return false
	}
	t.phase, t.deadline = state.Watching, now.Add(t.policy.Deadline)
	t.unknownSince, t.unknownReason = time.Time{}, ""
	return true
}

// stayUnknown keeps an unknown rollout waiting for its inputs, until
// Policy.Unresolved makes that the verdict.
func (t *Tracker) stayUnknown(now time.Time, a Assessment, v Verdict) Verdict {
	if now.Sub(t.unknownSince) >= t.policy.Unresolved {
		why := a.Unreachable
		if why == "" {
			why = "no data newer than " + t.unknownSince.UTC().Format(time.RFC3339)
		}
		return t.resolveUnknown(v, why)
	}
	v.Reason, v.NeedFresh, v.Recheck = t.unknownReason, t.unknownSince, t.unknownSince.Add(t.policy.Unresolved)
	return v
}

// resolveUnknown ends the watch without a verdict on the version.
func (t *Tracker) resolveUnknown(v Verdict, why string) Verdict {
	t.unresolved = true
	v.Unresolved = true
	v.Reason = fmt.Sprintf("no verdict for %s: %s; a bad version may be running", shortDuration(t.policy.Unresolved), why)
	return t.end(v, state.Unknown, "", nil)
}

// stillCritical follows each critical check of the assessment: a check
// seen critical starts a clock, one seen passing (or gone) stops it. It
// returns the checks whose clock has run FailAfter + StartGrace, the
// moment the data must reach to prove they did without a break, and when
// the next clock still running comes due. While an input cannot be seen,
// no clock moves: silence proves nothing either way.
func (t *Tracker) stillCritical(now time.Time, a Assessment) (stuck []Problem, due, next time.Time) {
	if t.policy.FailAfter <= 0 || a.Unreachable != "" {
		return nil, time.Time{}, time.Time{}
	}
	seen := map[string]bool{}
	for _, p := range a.Critical {
		if p.Kind != "check" {
			continue
		}
		k := p.Alloc + "\x00" + p.CheckID + "\x00" + p.Check
		seen[k] = true
		since, ok := t.critical[k]
		if !ok {
			since = now
			t.critical[k] = since
		}
		if d := since.Add(t.policy.FailAfter + t.policy.StartGrace); !now.Before(d) {
			stuck = append(stuck, p)
			due = later(due, d)
		} else if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	for k := range t.critical {
		if !seen[k] {
			delete(t.critical, k)
		}
	}
	return stuck, due, next
}

// end makes v final. A failure's reason is its cause followed by its
// problems; other verdicts bring their own reason.
func (t *Tracker) end(v Verdict, p state.Phase, cause string, problems []Problem) Verdict {
	t.phase, t.final = p, true
	v.Phase, v.Problems, v.HealthySince, v.NeedFresh = p, problems, t.readySince, time.Time{}
	if cause != "" {
		v.cause, v.Reason = cause, cause+summary(problems)
	}
	return v
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// shortDuration prints 30m rather than 30m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
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

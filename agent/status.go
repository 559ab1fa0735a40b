package agent

import (
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/reconcile"
)

// status is what the agent knows about its last cycles, for /v1/status
// and /healthz. Written by the loop, read by HTTP handlers.
type status struct {
	mu       sync.Mutex
	describe map[string]string
	// stuck tells whether the cycle in flight has stopped making progress.
	stuck       func(now time.Time) (step cycle.Step, idle, budget time.Duration, stuck bool)
	running     bool
	lastStart   time.Time
	lastEnd     time.Time
	lastTook    time.Duration
	lastErr     string
	lastStep    cycle.Step
	lastKind    cycle.Kind
	lastSuccess time.Time
	// cycles counts the finished cycles, for /v1/status: clients wait on
	// it for a cycle to end instead of sleeping.
	cycles uint64
	// report is the last cycle's report that got as far as syncing, in
	// the schema it is served in.
	report *api.Report
}

func newStatus(describe map[string]string, stuck func(time.Time) (cycle.Step, time.Duration, time.Duration, bool)) *status {
	return &status{describe: describe, stuck: stuck}
}

func (s *status) begin(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running, s.lastStart = true, t
}

func (s *status) finish(r *reconcile.Report, f *cycle.Failure, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	s.cycles++
	s.lastEnd = s.lastStart.Add(took)
	s.lastTook = took
	s.lastErr, s.lastStep, s.lastKind = "", "", ""
	if f != nil {
		s.lastErr, s.lastStep, s.lastKind = f.Error(), f.Step, f.Kind
	} else {
		s.lastSuccess = s.lastEnd
	}
	if r != nil {
		s.report = r.API()
	}
}

// healthy says whether the agent is doing its job, and if not why: a cycle
// stuck past its budget, the last cycle failed, or stalled on something
// only a person can fix.
func (s *status) healthy(now time.Time) (bool, string) {
	if step, idle, budget, stuck := s.stuck(now); stuck {
		return false, fmt.Sprintf("sync stuck in step %s: no progress for %s (budget %s)", step, idle.Round(time.Second), budget)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.lastKind == cycle.Stalled:
		return false, fmt.Sprintf("stalled at step %s: %s", s.lastStep, s.lastErr)
	case s.lastErr != "" && s.lastKind != cycle.Interrupted:
		return false, fmt.Sprintf("last sync failed at step %s: %s", s.lastStep, s.lastErr)
	case s.lastSuccess.IsZero():
		return false, "first sync has not finished yet"
	}
	return true, "ok"
}

// snapshot is /v1/status of this agent's cycles; the caller adds the
// rollouts, the controls and the replica's role.
func (s *status) snapshot(now time.Time) api.Status {
	step, _, _, stuck := s.stuck(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	v := api.Status{
		Agent:       s.describe,
		Cycles:      s.cycles,
		LastSuccess: timePtr(s.lastSuccess),
		LastSync: api.LastSync{
			Started:    timePtr(s.lastStart),
			Finished:   timePtr(s.lastEnd),
			DurationMS: s.lastTook.Milliseconds(),
			Running:    s.running,
			Step:       string(step),
			Stuck:      stuck,
			OK:         s.lastErr == "" && !s.lastEnd.IsZero(),
			FailedStep: string(s.lastStep),
			Kind:       string(s.lastKind),
			Error:      s.lastErr,
		},
	}
	if s.report != nil {
		v.Report = s.report
		v.Commit, v.CommitInfo = s.report.Revision, s.report.Commit
	}
	return v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

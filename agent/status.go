package agent

import (
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover/control"
	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/rollout"
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
	// report is the last cycle's report that got as far as syncing.
	report *reconcile.Report
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
	s.lastEnd = s.lastStart.Add(took)
	s.lastTook = took
	s.lastErr, s.lastStep, s.lastKind = "", "", ""
	if f != nil {
		s.lastErr, s.lastStep, s.lastKind = f.Error(), f.Step, f.Kind
	} else {
		s.lastSuccess = s.lastEnd
	}
	if r != nil {
		r.Slim()
		s.report = r
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

type lastSyncJSON struct {
	Started    *time.Time `json:"started,omitempty"`
	Finished   *time.Time `json:"finished,omitempty"`
	DurationMS int64      `json:"duration_ms"`
	Running    bool       `json:"running"`
	// Step is where the cycle in flight is, while one runs.
	Step cycle.Step `json:"step,omitempty"`
	// Stuck says the cycle in flight has gone past its step's budget
	// without progress.
	Stuck      bool       `json:"stuck,omitempty"`
	OK         bool       `json:"ok"`
	FailedStep cycle.Step `json:"failed_step,omitempty"`
	// Kind is transient or stalled for a failed cycle.
	Kind  cycle.Kind `json:"kind,omitempty"`
	Error string     `json:"error,omitempty"`
}

type statusJSON struct {
	Agent  map[string]string `json:"agent"`
	Commit string            `json:"commit,omitempty"`
	// CommitInfo is the commit's subject, author and time.
	CommitInfo  *jobs.CommitInfo  `json:"commit_info,omitempty"`
	LastSync    lastSyncJSON      `json:"last_sync"`
	LastSuccess *time.Time        `json:"last_success,omitempty"`
	Report      *reconcile.Report `json:"report,omitempty"`
	// Rollouts is each job's rollout state: last good commit, quarantine,
	// the rollout being watched.
	Rollouts []rollout.JobStatus `json:"rollouts,omitempty"`
	// HA is this replica's role and the leader.
	HA *haJSON `json:"ha,omitempty"`
	// Controls are the suspensions and windows.
	Controls *control.Status `json:"controls,omitempty"`
}

func (s *status) snapshot(now time.Time) statusJSON {
	step, _, _, stuck := s.stuck(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	v := statusJSON{
		Agent:       s.describe,
		LastSuccess: timePtr(s.lastSuccess),
		Report:      s.report,
		LastSync: lastSyncJSON{
			Started:    timePtr(s.lastStart),
			Finished:   timePtr(s.lastEnd),
			DurationMS: s.lastTook.Milliseconds(),
			Running:    s.running,
			Step:       step,
			Stuck:      stuck,
			OK:         s.lastErr == "" && !s.lastEnd.IsZero(),
			FailedStep: s.lastStep,
			Kind:       s.lastKind,
			Error:      s.lastErr,
		},
	}
	if s.report != nil {
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

package agent

import (
	gosync "sync"
	"time"

	"github.com/drover-dev/drover/rollout"
	dsync "github.com/drover-dev/drover/sync"
)

// status is what the agent knows about its last cycles, for /v1/status
// and /healthz. Written by the loop, read by HTTP handlers.
type status struct {
	mu          gosync.Mutex
	describe    map[string]string
	running     bool
	lastStart   time.Time
	lastEnd     time.Time
	lastTook    time.Duration
	lastErr     string
	lastStep    string
	lastSuccess time.Time
	// report is the last cycle's report that got as far as syncing.
	report *dsync.Report
}

func newStatus(describe map[string]string) *status {
	return &status{describe: describe}
}

func (s *status) begin(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running, s.lastStart = true, t
}

func (s *status) finish(r *dsync.Report, step string, err error, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	s.lastEnd = s.lastStart.Add(took)
	s.lastTook = took
	s.lastErr, s.lastStep = "", step
	if err != nil {
		s.lastErr = err.Error()
	} else {
		s.lastSuccess = s.lastEnd
	}
	if r != nil {
		s.report = r
	}
}

// healthy says whether the last cycle reached git and Nomad, and if not why.
func (s *status) healthy() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.lastErr != "":
		return false, s.lastStep + ": " + s.lastErr
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
	OK         bool       `json:"ok"`
	Step       string     `json:"failed_step,omitempty"`
	Error      string     `json:"error,omitempty"`
}

type statusJSON struct {
	Agent       map[string]string `json:"agent"`
	Commit      string            `json:"commit,omitempty"`
	LastSync    lastSyncJSON      `json:"last_sync"`
	LastSuccess *time.Time        `json:"last_success,omitempty"`
	Report      *dsync.Report     `json:"report,omitempty"`
	// Rollouts is each job's rollout state: last good commit, quarantine,
	// the rollout being watched.
	Rollouts []rollout.JobStatus `json:"rollouts,omitempty"`
}

func (s *status) snapshot() statusJSON {
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
			OK:         s.lastErr == "" && !s.lastEnd.IsZero(),
			Error:      s.lastErr,
		},
	}
	if s.lastErr != "" {
		v.LastSync.Step = s.lastStep
	}
	if s.report != nil {
		v.Commit = s.report.Revision
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

package agent

import (
	"time"

	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/reconcile"
)

// recordCycle feeds one cycle's outcome to the metrics. A cycle that
// failed before syncing has no report; one interrupted by shutdown has a
// partial one, whose registers still count but whose classes do not
// describe the whole repository.
func (a *Agent) recordCycle(report *reconcile.Report, f *cycle.Failure, took time.Duration, end time.Time) {
	m := a.opts.Metrics
	if m == nil {
		return
	}
	m.SyncFinished(f != nil, took, end)
	if report == nil {
		return
	}
	states, drift := map[string]int{}, 0
	for _, j := range report.Jobs {
		states[string(j.Class)]++
		if j.Class == reconcile.Drift {
			drift++
		}
		if result, ok := applyResult(j); ok {
			m.Applied(result)
		}
	}
	m.DriftDetected(drift)
	if f == nil {
		m.JobStates(states)
		recordSources(m, report)
	}
}

// recordSources feeds the per-source gauges, with many sources.
func recordSources(m *metrics.Metrics, report *reconcile.Report) {
	if report.Sources == nil {
		return
	}
	states := map[string]map[string]int{}
	for _, j := range report.Jobs {
		if states[j.Source] == nil {
			states[j.Source] = map[string]int{}
		}
		states[j.Source][string(j.Class)]++
	}
	for _, s := range report.Sources {
		m.SourceStates(s.Name, s.Err == nil, states[s.Name])
	}
}

// applyResult says how a job's register went, and false when none was
// tried: the job was in sync, failed to plan, or this is a dry run.
func applyResult(j *reconcile.JobResult) (string, bool) {
	switch {
	case j.Applied != nil:
		return metrics.ApplyOK, true
	case reconcile.IsConflict(j.Err):
		return metrics.ApplyConflict, true
	case j.Err != nil && j.Class != reconcile.Failed && j.Class != reconcile.InSync:
		// Planned fine (it has a class), so the error is the register's.
		return metrics.ApplyError, true
	}
	return "", false
}

package agent

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/reconcile"
)

// sample reads one series from the agent's /metrics.
func sample(t *testing.T, a *Agent, series string) float64 {
	t.Helper()
	w := serve(a, http.MethodGet, "/metrics")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", w.Code)
	}
	sc := bufio.NewScanner(strings.NewReader(w.Body.String()))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}

func newMetricsAgent(t *testing.T, src cycle.SourceFunc) *Agent {
	t.Helper()
	m := metrics.New("test")
	a, err := New(runnerOver(src, &jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), m), Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMetrics_FailedFetchIsRecorded(t *testing.T) {
	a := newMetricsAgent(t, func(context.Context) (jobs.Tree, error) { return nil, errors.New("connection refused") })
	cycles, _, _ := a.newTerm(context.Background(), loneTerm{})
	if _, err := a.cycle(context.Background(), cycles, request{reason: "test"}, 1, new(string)); err == nil {
		t.Fatal("cycle with a failing fetch succeeded")
	}
	for series, want := range map[string]float64{
		`drover_git_fetch_duration_seconds_count{result="failed"}`: 1,
		`drover_git_fetch_duration_seconds_count{result="ok"}`:     0,
		`drover_sync_duration_seconds_count{result="failed"}`:      1,
		`drover_sync_duration_seconds_count{result="ok"}`:          0,
		`drover_last_successful_sync_timestamp_seconds`:            0,
	} {
		if got := sample(t, a, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

func TestMetrics_ReportIsRecorded(t *testing.T) {
	a := newMetricsAgent(t, nil)
	report := &reconcile.Report{Jobs: []*reconcile.JobResult{
		{Path: "a", Class: reconcile.InSync},
		{Path: "b", Class: reconcile.InSync},
		{Path: "c", Class: reconcile.Create, Applied: &reconcile.Applied{}},
		{Path: "d", Class: reconcile.Drift, Applied: &reconcile.Applied{}},
		{Path: "e", Class: reconcile.Drift, Err: reconcile.ErrConflict},
		{Path: "f", Class: reconcile.Update, Err: errors.New("register: 500")},
		{Path: "g", Class: reconcile.Failed, Err: errors.New("plan: 500")},
		{Path: "h", Class: reconcile.Update}, // dry run: planned, not applied
	}}
	end := time.Unix(1_750_000_000, 0)
	a.recordCycle(report, nil, 2*time.Second, end)
	for series, want := range map[string]float64{
		`drover_sync_duration_seconds_count{result="ok"}`: 1,
		`drover_last_successful_sync_timestamp_seconds`:   1.75e9,
		`drover_jobs{state="in_sync"}`:                    2,
		`drover_jobs{state="create"}`:                     1,
		`drover_jobs{state="update"}`:                     2,
		`drover_jobs{state="drift"}`:                      2,
		`drover_jobs{state="error"}`:                      1,
		`drover_drift_detected_total`:                     2,
		`drover_applies_total{result="ok"}`:               2,
		`drover_applies_total{result="conflict"}`:         1,
		`drover_applies_total{result="error"}`:            1,
		`drover_conflicts_total`:                          1,
	} {
		if got := sample(t, a, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}

	// The next cycle replaces the gauge and adds to the counters.
	a.recordCycle(&reconcile.Report{Jobs: []*reconcile.JobResult{{Path: "a", Class: reconcile.InSync}}}, nil, time.Second, end.Add(time.Minute))
	for series, want := range map[string]float64{
		`drover_jobs{state="in_sync"}`:                  1,
		`drover_jobs{state="drift"}`:                    0,
		`drover_drift_detected_total`:                   2,
		`drover_applies_total{result="ok"}`:             2,
		`drover_last_successful_sync_timestamp_seconds`: 1.75e9 + 60,
	} {
		if got := sample(t, a, series); got != want {
			t.Errorf("after a second cycle %s = %v, want %v", series, got, want)
		}
	}
}

func TestMetrics_NilMetricsRecordNothingAndHide(t *testing.T) {
	a := newTestAgent(t)
	a.recordCycle(&reconcile.Report{}, nil, time.Second, time.Now())
	if w := serve(a, http.MethodGet, "/metrics"); w.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without metrics: %d, want 404", w.Code)
	}
}

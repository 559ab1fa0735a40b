package metrics

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape fetches /metrics the way Prometheus does and returns the text.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q, want the text exposition format", ct)
	}
	return w.Body.String()
}

// value is the sample of series (name with labels, exactly as exposed) in
// body; missing fails the test.
func value(t *testing.T, body, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			t.Fatalf("%s: %v", series, err)
		}
		return v
	}
	t.Fatalf("no series %s in:\n%s", series, body)
	return 0
}

func TestNew_ExposesEveryMetricFromTheStart(t *testing.T) {
	body := scrape(t, New("1.2.3"))
	for _, series := range []string{
		`drover_sync_duration_seconds_count{result="ok"}`,
		`drover_sync_duration_seconds_count{result="failed"}`,
		`drover_git_fetch_duration_seconds_count{result="ok"}`,
		`drover_last_successful_sync_timestamp_seconds`,
		`drover_jobs{state="in_sync"}`, `drover_jobs{state="create"}`, `drover_jobs{state="update"}`,
		`drover_jobs{state="drift"}`, `drover_jobs{state="error"}`,
		`drover_drift_detected_total`,
		`drover_applies_total{result="ok"}`, `drover_applies_total{result="conflict"}`, `drover_applies_total{result="error"}`,
		`drover_conflicts_total`,
		`drover_rollouts_total{result="healthy"}`, `drover_rollouts_total{result="failed"}`,
		`drover_rollouts_total{result="unknown"}`, `drover_rollouts_total{result="superseded"}`,
		`drover_rollbacks_total{result="applied"}`, `drover_rollbacks_total{result="failed"}`,
		`drover_webhook_deliveries_total{provider="github",result="triggered"}`,
		`drover_webhook_deliveries_total{provider="gitlab",result="rejected"}`,
	} {
		if v := value(t, body, series); v != 0 {
			t.Errorf("%s = %v before anything happened, want 0", series, v)
		}
	}
	if v := value(t, body, `drover_build_info{goversion="`+runtime.Version()+`",version="1.2.3"}`); v != 1 {
		t.Errorf("build info = %v, want 1", v)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("standard collector metric %s missing", name)
		}
	}
}

func TestMetrics_ValuesMoveWhenRecorded(t *testing.T) {
	m := New("dev")
	end := time.Unix(1_700_000_000, 500_000_000)
	m.FetchFinished(false, 200*time.Millisecond)
	m.FetchFinished(true, time.Second)
	m.SyncFinished(false, 3*time.Second, end)
	m.SyncFinished(true, time.Second, end.Add(time.Minute)) // must not move the last success
	m.JobStates(map[string]int{"in_sync": 3, "drift": 1, "bogus": 9})
	m.JobStates(map[string]int{"in_sync": 4, "drift": 1})
	m.DriftDetected(1)
	m.DriftDetected(2)
	m.DriftDetected(0)
	m.Applied(ApplyOK)
	m.Applied(ApplyOK)
	m.Applied(ApplyConflict)
	m.Applied("typo")
	m.RolloutFinished(RolloutHealthy)
	m.RolloutFinished(RolloutSuperseded)
	m.RolloutFinished("weird")
	m.RollbackFinished(RollbackApplied)
	m.RollbackFinished(RollbackFailed)
	m.RollbackFinished("weird")
	m.WebhookDelivery("github", WebhookTriggered)
	m.WebhookDelivery("bitbucket", "nope")

	body := scrape(t, m)
	for series, want := range map[string]float64{
		`drover_git_fetch_duration_seconds_count{result="ok"}`:                  1,
		`drover_git_fetch_duration_seconds_sum{result="ok"}`:                    0.2,
		`drover_git_fetch_duration_seconds_count{result="failed"}`:              1,
		`drover_sync_duration_seconds_count{result="ok"}`:                       1,
		`drover_sync_duration_seconds_sum{result="ok"}`:                         3,
		`drover_sync_duration_seconds_bucket{result="ok",le="2.5"}`:             0,
		`drover_sync_duration_seconds_bucket{result="ok",le="5"}`:               1,
		`drover_sync_duration_seconds_count{result="failed"}`:                   1,
		`drover_last_successful_sync_timestamp_seconds`:                         1_700_000_000.5,
		`drover_jobs{state="in_sync"}`:                                          4,
		`drover_jobs{state="drift"}`:                                            1,
		`drover_jobs{state="create"}`:                                           0,
		`drover_drift_detected_total`:                                           3,
		`drover_applies_total{result="ok"}`:                                     2,
		`drover_applies_total{result="conflict"}`:                               1,
		`drover_applies_total{result="error"}`:                                  1,
		`drover_conflicts_total`:                                                1,
		`drover_rollouts_total{result="healthy"}`:                               1,
		`drover_rollouts_total{result="superseded"}`:                            1,
		`drover_rollouts_total{result="unknown"}`:                               1,
		`drover_rollbacks_total{result="applied"}`:                              1,
		`drover_rollbacks_total{result="failed"}`:                               1,
		`drover_rollbacks_total{result="unknown"}`:                              1,
		`drover_webhook_deliveries_total{provider="github",result="triggered"}`: 1,
		`drover_webhook_deliveries_total{provider="other",result="rejected"}`:   1,
	} {
		if got := value(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, leaked := range []string{"bogus", "typo", "weird", "bitbucket"} {
		if strings.Contains(body, leaked) {
			t.Errorf("label value %q outside the fixed set was exposed", leaked)
		}
	}
}

func TestMetrics_NilIsANoOp(t *testing.T) {
	var m *Metrics
	m.SyncFinished(false, time.Second, time.Now())
	m.FetchFinished(true, time.Second)
	m.JobStates(map[string]int{"in_sync": 1})
	m.DriftDetected(1)
	m.Applied(ApplyOK)
	m.RolloutFinished(RolloutFailed)
	m.RollbackFinished(RollbackFailed)
	m.WebhookDelivery("github", WebhookIgnored)
	if m.Registry() != nil {
		t.Error("nil metrics has a registry")
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("nil metrics handler: %d, want 404", w.Code)
	}
	next := http.DefaultTransport
	if got := m.NomadTransport(next); got != next {
		t.Error("nil metrics wrapped the transport")
	}
}

func TestMetrics_RegistriesAreIndependent(t *testing.T) {
	a, b := New("a"), New("b")
	a.DriftDetected(5)
	if v := value(t, scrape(t, b), "drover_drift_detected_total"); v != 0 {
		t.Errorf("a second Metrics saw the first's counter: %v", v)
	}
}

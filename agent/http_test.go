package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
)

func newTestAgent(t *testing.T) *Agent {
	t.Helper()
	a, err := New(runnerOver(func(context.Context) (jobs.Tree, error) { return nil, errors.New("unused") },
		&jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), nil),
		Options{Describe: map[string]string{"repo": "https://example.invalid/jobs.git"}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func serve(a *Agent, method, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	a.Handler().ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestHealthz_ReflectsLastCycle(t *testing.T) {
	a := newTestAgent(t)
	if w := serve(a, "GET", "/healthz"); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "first sync") {
		t.Errorf("before any cycle: %d %q", w.Code, w.Body)
	}
	a.status.begin(time.Now())
	a.status.finish(nil, &cycle.Failure{Step: cycle.StepFetch, Kind: cycle.Transient, Err: errors.New("connection refused")}, time.Second)
	if w := serve(a, "GET", "/healthz"); w.Code != http.StatusServiceUnavailable || w.Body.String() != "last sync failed at step fetch: connection refused\n" {
		t.Errorf("after a failed fetch: %d %q", w.Code, w.Body)
	}
	a.status.begin(time.Now())
	a.status.finish(&reconcile.Report{Revision: "abc"}, nil, time.Second)
	if w := serve(a, "GET", "/healthz"); w.Code != http.StatusOK {
		t.Errorf("after a good cycle: %d %q", w.Code, w.Body)
	}
}

func TestStatus_ShowsLastReportAndKeepsItOnFailure(t *testing.T) {
	a := newTestAgent(t)
	a.status.begin(time.Now())
	a.status.finish(&reconcile.Report{Revision: "abc", Jobs: []*reconcile.JobResult{{Path: "a.nomad", Class: reconcile.InSync}}}, nil, time.Second)
	a.status.begin(time.Now())
	a.status.finish(nil, &cycle.Failure{Step: cycle.StepSync, Kind: cycle.Transient, Err: errors.New("list jobs: refused")}, time.Second)

	w := serve(a, "GET", "/v1/status")
	var st struct {
		Agent    map[string]string `json:"agent"`
		Commit   string            `json:"commit"`
		LastSync struct {
			OK         bool   `json:"ok"`
			FailedStep string `json:"failed_step"`
			Error      string `json:"error"`
		} `json:"last_sync"`
		LastSuccess *time.Time `json:"last_success"`
		Report      struct {
			Jobs []struct{ Path, State string }
		} `json:"report"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Commit != "abc" || st.LastSync.OK || st.LastSync.FailedStep != "sync" || st.LastSuccess == nil ||
		len(st.Report.Jobs) != 1 || st.Report.Jobs[0].State != "synced" || st.Agent["repo"] == "" {
		t.Errorf("status = %+v", st)
	}
}

func TestSync_TriggersWithoutBlocking(t *testing.T) {
	a := newTestAgent(t)
	for range 3 {
		if w := serve(a, "POST", "/v1/sync"); w.Code != http.StatusAccepted {
			t.Fatalf("POST /v1/sync: %d", w.Code)
		}
	}
	if got := <-a.trigger; got.reason != "api" {
		t.Errorf("trigger reason %q", got)
	}
	select {
	case r := <-a.trigger:
		t.Errorf("triggers did not merge: extra %q", r)
	default:
	}
	if w := serve(a, "GET", "/v1/sync"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/sync: %d, want 405", w.Code)
	}
}

func TestNew_RejectsBadSchedule(t *testing.T) {
	_, err := New(runnerOver(nil, &jobs.Loader{}, nil, nil), Options{Schedule: "every now and then"})
	if err == nil || !strings.Contains(err.Error(), "every now and then") {
		t.Errorf("err = %v", err)
	}
}

func TestPprof_OnlyWhenAsked(t *testing.T) {
	a := newTestAgent(t)
	if w := serve(a, "GET", "/debug/pprof/heap"); w.Code == http.StatusOK {
		t.Errorf("without Pprof: /debug/pprof/heap answered %d", w.Code)
	}
	a.opts.Pprof = true
	w := serve(a, "GET", "/debug/pprof/heap?debug=1")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "heap profile") {
		t.Errorf("with Pprof: /debug/pprof/heap answered %d %.100q", w.Code, w.Body)
	}
}

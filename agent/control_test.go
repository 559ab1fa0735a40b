package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/control"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
)

// fakeControls records the suspend and resume calls.
type fakeControls struct {
	calls []string
	err   error
}

func (f *fakeControls) Suspend(_ context.Context, names []string, s control.Suspension) (control.Suspensions, error) {
	f.calls = append(f.calls, "suspend "+strings.Join(names, ",")+" by "+s.By+": "+s.Reason)
	if f.err != nil {
		return control.Suspensions{}, f.err
	}
	return control.Suspensions{Instance: &s}, nil
}

func (f *fakeControls) Resume(_ context.Context, names []string) (control.Suspensions, error) {
	f.calls = append(f.calls, "resume "+strings.Join(names, ","))
	return control.Suspensions{}, f.err
}

func (f *fakeControls) Watch(context.Context, func(string), func(int) time.Duration) {}

func (f *fakeControls) Status() api.Controls {
	return api.Controls{Suspensions: api.Suspensions{Jobs: map[string]api.Suspension{"default/web": {By: "ann"}}}}
}

func TestSuspend_NeedsTheTokenAndReadsTheBody(t *testing.T) {
	fc := &fakeControls{}
	a, err := New(runnerOver(func(context.Context) (jobs.Tree, error) { return nil, errors.New("unused") },
		&jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), nil),
		Options{APIToken: "s3cret", Controls: fc})
	if err != nil {
		t.Fatal(err)
	}
	do := func(path, token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		a.Handler().ServeHTTP(w, r)
		return w
	}
	if w := do("/v1/suspend", "", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", w.Code)
	}
	if w := do("/v1/resume", "wrong", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", w.Code)
	}
	if len(fc.calls) != 0 {
		t.Fatalf("refused requests wrote: %v", fc.calls)
	}
	if w := do("/v1/suspend", "s3cret", `{"jobs":["web","infra/cache"],"reason":"migration","by":"ann"}`); w.Code != http.StatusOK ||
		!strings.Contains(w.Body.String(), `"by": "ann"`) {
		t.Errorf("suspend: %d %s", w.Code, w.Body)
	}
	if w := do("/v1/suspend", "s3cret", ""); w.Code != http.StatusOK {
		t.Errorf("suspend with no body: %d %s", w.Code, w.Body)
	}
	if w := do("/v1/resume", "s3cret", `{"jobs":["web"]}`); w.Code != http.StatusOK {
		t.Errorf("resume: %d %s", w.Code, w.Body)
	}
	if w := do("/v1/suspend", "s3cret", `{"jobs":`); w.Code != http.StatusBadRequest {
		t.Errorf("bad JSON: %d", w.Code)
	}
	want := []string{"suspend web,infra/cache by ann: migration", "suspend  by api: ", "resume web"}
	if strings.Join(fc.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls %q, want %q", fc.calls, want)
	}
	fc.err = &control.JobError{Job: "a/b/c"}
	if w := do("/v1/suspend", "s3cret", `{"jobs":["a/b/c"]}`); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "namespace/name") {
		t.Errorf("bad job name: %d %s", w.Code, w.Body)
	}
	fc.err = errors.New("read suspensions: connection refused")
	if w := do("/v1/resume", "s3cret", ""); w.Code != http.StatusServiceUnavailable {
		t.Errorf("consul down: %d", w.Code)
	}
	if w := serve(a, "GET", "/v1/status"); !strings.Contains(w.Body.String(), `"controls"`) || !strings.Contains(w.Body.String(), `"default/web"`) {
		t.Errorf("status has no controls: %s", w.Body)
	}
}

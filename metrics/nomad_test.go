package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestEndpoint_NormalisesIDsOutOfThePath(t *testing.T) {
	r := newRoutes()
	for _, tc := range []struct{ path, want string }{
		{"/v1/jobs", "/v1/jobs"},
		{"/v1/jobs/parse", "/v1/jobs/parse"},
		{"/v1/job/hello", "/v1/job/:id"},
		{"/v1/job/hello/plan", "/v1/job/:id/plan"},
		{"/v1/job/other-job-42/plan", "/v1/job/:id/plan"},
		// Nomad's client path-escapes IDs; a slash in an ID stays one segment.
		{"/v1/job/team%2Fweb/plan", "/v1/job/:id/plan"},
		{"/v1/job/hello/periodic/force", "/v1/job/:id/periodic/force"},
		{"/v1/job/hello/submission", "/v1/job/:id/submission"},
		{"/v1/allocation/5b1e44a0-0000-4000-8000-000000000000", "/v1/allocation/:id"},
		{"/v1/evaluation/5b1e44a0-0000-4000-8000-000000000000/allocations", "/v1/evaluation/:id/allocations"},
		{"/v1/deployment/promote/5b1e44a0-0000-4000-8000-000000000000", "/v1/deployment/promote/:id"},
		{"/v1/deployment/5b1e44a0-0000-4000-8000-000000000000", "/v1/deployment/:id"},
		{"/v1/var/nomad/jobs/drover/git", "/v1/var/:path"},
		{"/v1/event/stream", "/v1/event/stream"},
		{"/v1/status/leader", "/v1/status/leader"},
		// Unknown routes keep only their resource type.
		{"/v1/recommendation/5b1e44a0", "/v1/recommendation/…"},
		{"/v1/quotas", "/v1/quotas"},
		{"/v1/Job%20With%20Spaces/x", "other"},
		{"/v1/5b1e44a0-0000-4000-8000-000000000000", "other"},
		{"/metrics", "other"},
		{"/", "other"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			u, err := url.Parse("http://127.0.0.1:4646" + tc.path + "?namespace=*&index=7")
			if err != nil {
				t.Fatal(err)
			}
			if got := r.endpoint(&http.Request{Method: http.MethodPost, URL: u}); got != tc.want {
				t.Errorf("endpoint(%s) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNomadTransport_CountsByMethodEndpointAndCodeClass(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/job/missing":
			http.NotFound(w, r)
		case "/v1/jobs/parse":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			_, _ = w.Write([]byte("{}"))
		}
	}))
	defer srv.Close()

	m := New("dev")
	calls := 0
	inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		return http.DefaultTransport.RoundTrip(r)
	})
	client := &http.Client{Transport: m.NomadTransport(inner)}
	do := func(method, path string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do(http.MethodPost, "/v1/job/web/plan")
	do(http.MethodPost, "/v1/job/api/plan")
	do(http.MethodGet, "/v1/jobs")
	do(http.MethodGet, "/v1/job/missing")
	do(http.MethodPost, "/v1/jobs/parse")

	// A transport error (no response at all) is counted as "error".
	failing := m.NomadTransport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	}))
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/v1/status/leader", nil)
	if _, err := failing.RoundTrip(req); err == nil {
		t.Fatal("wrapped transport swallowed the error")
	}

	if calls != 5 {
		t.Errorf("inner transport called %d times, want 5: the wrapper must delegate", calls)
	}
	body := scrape(t, m)
	for series, want := range map[string]float64{
		`drover_nomad_requests_total{code="2xx",endpoint="/v1/job/:id/plan",method="POST"}`:   2,
		`drover_nomad_requests_total{code="2xx",endpoint="/v1/jobs",method="GET"}`:            1,
		`drover_nomad_requests_total{code="4xx",endpoint="/v1/job/:id",method="GET"}`:         1,
		`drover_nomad_requests_total{code="5xx",endpoint="/v1/jobs/parse",method="POST"}`:     1,
		`drover_nomad_requests_total{code="error",endpoint="/v1/status/leader",method="GET"}`: 1,
	} {
		if got := value(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

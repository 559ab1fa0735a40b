package metrics

import (
	"net/http"
	"strconv"
	"strings"
)

// NomadTransport wraps next so every Nomad API request is counted in
// drover_nomad_requests_total. A request counts when its response headers
// arrive (or it fails), so blocking queries and the event stream count
// once each, not for as long as they stay open. On a nil *Metrics it
// returns next unchanged.
func (m *Metrics) NomadTransport(next http.RoundTripper) http.RoundTripper {
	if m == nil {
		return next
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &countingTransport{next: next, m: m}
}

type countingTransport struct {
	next http.RoundTripper
	m    *Metrics
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	t.m.nomadRequests.WithLabelValues(normaliseMethod(req.Method), t.m.routes.endpoint(req), code).Inc()
	return resp, err
}

func normaliseMethod(m string) string {
	switch m {
	case "", http.MethodGet:
		return http.MethodGet
	case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead:
		return m
	}
	return "other"
}

// routes matches a request path against the templates of the Nomad API
// routes, so job, allocation and evaluation IDs never become label values.
// It uses http.ServeMux only as a matcher: its precedence rules already
// say that /v1/job/{id}/plan beats /v1/job/{id}, and it splits on escaped
// slashes correctly (Nomad's client path-escapes IDs).
type routes struct {
	mux *http.ServeMux
}

// newRoutes matches the Nomad API routes drover calls or may call. A path
// outside them is counted as its first segment
// after /v1 followed by "/…", which is still bounded: that segment is a
// resource type, never an ID.
func newRoutes() *routes {
	nomadRoutes := []string{
		"/v1/jobs", "/v1/jobs/parse", "/v1/jobs/statuses",
		"/v1/job/{id}", "/v1/job/{id}/plan", "/v1/job/{id}/allocations", "/v1/job/{id}/evaluations",
		"/v1/job/{id}/deployments", "/v1/job/{id}/deployment", "/v1/job/{id}/submission",
		"/v1/job/{id}/versions", "/v1/job/{id}/revert", "/v1/job/{id}/stable", "/v1/job/{id}/scale",
		"/v1/job/{id}/summary", "/v1/job/{id}/evaluate", "/v1/job/{id}/dispatch",
		"/v1/job/{id}/periodic/force", "/v1/job/{id}/services",
		"/v1/allocations", "/v1/allocation/{id}", "/v1/allocation/{id}/stop", "/v1/allocation/{id}/services",
		"/v1/allocation/{id}/checks",
		"/v1/evaluations", "/v1/evaluations/count", "/v1/evaluation/{id}", "/v1/evaluation/{id}/allocations",
		"/v1/deployments", "/v1/deployment/{id}", "/v1/deployment/allocations/{id}", "/v1/deployment/fail/{id}",
		"/v1/deployment/pause/{id}", "/v1/deployment/promote/{id}", "/v1/deployment/allocation-health/{id}",
		"/v1/deployment/unblock/{id}",
		"/v1/nodes", "/v1/node/{id}", "/v1/node/{id}/allocations",
		"/v1/client/allocation/{id}/stats", "/v1/client/fs/logs/{id}", "/v1/client/fs/cat/{id}",
		"/v1/client/fs/ls/{id}", "/v1/client/fs/stat/{id}",
		"/v1/namespaces", "/v1/namespace/{id}",
		"/v1/vars", "/v1/var/{path...}",
		"/v1/services", "/v1/service/{id}",
		"/v1/event/stream",
		"/v1/status/leader", "/v1/status/peers",
		"/v1/agent/self", "/v1/agent/health", "/v1/agent/members",
		"/v1/regions", "/v1/search", "/v1/search/fuzzy",
		"/v1/acl/token/self",
	}
	mux := http.NewServeMux()
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, p := range nomadRoutes {
		mux.Handle(p, noop)
	}
	return &routes{mux: mux}
}

// endpoint is the route template of req's path, with wildcards written
// the way Nomad's docs do (:id, :path).
func (r *routes) endpoint(req *http.Request) string {
	probe := &http.Request{Method: http.MethodGet, URL: req.URL, Host: req.Host}
	if _, pattern := r.mux.Handler(probe); pattern != "" {
		pattern = strings.ReplaceAll(pattern, "{path...}", ":path")
		return strings.ReplaceAll(pattern, "{id}", ":id")
	}
	return fallbackEndpoint(req.URL.EscapedPath())
}

// fallbackEndpoint keeps only the resource type of an unknown route.
func fallbackEndpoint(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return "other"
	}
	resource, _, more := strings.Cut(rest, "/")
	if resource == "" || !isResourceName(resource) {
		return "other"
	}
	if more {
		return "/v1/" + resource + "/…"
	}
	return "/v1/" + resource
}

// isResourceName rejects segments that look like data rather than a
// route name, so an unexpected path can't leak IDs into a label.
func isResourceName(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

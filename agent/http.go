package agent

import (
	"encoding/json"
	"errors"
	"github.com/drover-dev/drover/events"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// Handler serves the agent's HTTP API:
//
//	GET  /healthz         200 "ok" when the last cycle reached git and Nomad, else 503 with the reason
//	GET  /v1/status       the last cycle's outcome per job, as JSON
//	GET  /metrics         Prometheus metrics (404 without Options.Metrics)
//	POST /v1/sync         start a cycle now (202); needs the bearer token when Options.APIToken is set
//	POST /v1/suspend      suspend jobs or the instance ({"jobs":[...],"reason":"...","by":"..."}); bearer token as /v1/sync
//	POST /v1/resume       resume them; same body and token
//	POST /webhook/github  GitHub push events, signed with Options.WebhookSecret
//	POST /webhook/gitlab  GitLab push hooks, carrying Options.WebhookSecret as token
//	GET  /v1/events       the recent events as JSON (?after=<seq>), or as Server-Sent Events (Accept: text/event-stream)
//	GET  /                the web page (Options.UI), with /jobs/<namespace>/<name>, /assets/ and, with
//	                      Options.APIToken, POST /sync (the "sync now" form, carrying the token)
//	GET  /debug/pprof/    Go's runtime profiles (heap, CPU, goroutines), with Options.Pprof only
//
// The GET endpoints are open: they reveal no secret and change nothing.
// Put the listener behind a proxy or a firewall if what they show (repo,
// job names, commits) is not for everyone.
//
// The handler remembers the last deliveryMemory delivery IDs of each
// webhook provider and ignores a delivery it has seen: build one handler
// per agent and serve only that one.
func (a *Agent) Handler() http.Handler {
	github, gitlab := newDeliveries(deliveryMemory), newDeliveries(deliveryMemory)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := a.healthy(r.Context(), time.Now())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(why + "\n"))
	})
	mux.HandleFunc("GET /v1/status", a.serveStatus)
	mux.Handle("GET /metrics", a.opts.Metrics.Handler())
	mux.HandleFunc("POST /v1/sync", func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(w, r) {
			return
		}
		code, answer := a.requestSync(r.Context(), "api")
		writeJSON(w, code, answer)
	})
	mux.HandleFunc("POST /v1/suspend", a.serveControl(true))
	mux.HandleFunc("POST /v1/resume", a.serveControl(false))
	mux.HandleFunc("POST /webhook/github", func(w http.ResponseWriter, r *http.Request) { a.githubWebhook(w, r, github) })
	mux.HandleFunc("POST /webhook/gitlab", func(w http.ResponseWriter, r *http.Request) { a.gitlabWebhook(w, r, gitlab) })
	if a.stream != nil {
		mux.Handle("GET /v1/events", a.stream)
	}
	if a.page != nil {
		a.page.Register(mux)
	}
	if a.opts.Pprof {
		// Registered by hand: importing net/http/pprof for its side
		// effect would put the profiles on http.DefaultServeMux.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// authorized answers 401 and logs api.rejected for a request without the
// bearer token --api-token asks for, and reports whether it may go on.
func (a *Agent) authorized(w http.ResponseWriter, r *http.Request) bool {
	err := a.checkBearer(r)
	if err == nil {
		return true
	}
	a.events.Emit(events.APIRejected{Path: r.URL.Path, RemoteAddr: r.RemoteAddr, Reason: err.Error()}, "API request refused")
	w.Header().Set("WWW-Authenticate", `Bearer realm="drover"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
	return false
}

// checkBearer enforces Options.APIToken, when set, as the request's
// bearer token.
func (a *Agent) checkBearer(r *http.Request) error {
	if a.opts.APIToken == "" {
		return nil
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case !ok || !strings.EqualFold(scheme, "Bearer") || token == "":
		return errors.New("missing bearer token: send Authorization: Bearer <--api-token>")
	case !equalSecret(token, a.opts.APIToken):
		return errors.New("bearer token does not match --api-token")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

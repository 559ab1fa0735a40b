package agent

import (
	"encoding/json"
	"net/http"
)

// Handler serves the agent's HTTP API:
//
//	GET  /healthz    200 "ok" when the last cycle reached git and Nomad, else 503 with the reason
//	GET  /v1/status  the last cycle's outcome per job, as JSON
//	POST /v1/sync    start a cycle now (202)
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := a.status.healthy()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(why + "\n"))
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		v := a.status.snapshot()
		if a.opts.Rollouts != nil {
			v.Rollouts = a.opts.Rollouts.Status()
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("POST /v1/sync", func(w http.ResponseWriter, r *http.Request) {
		a.Trigger("api")
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "sync triggered"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/control"
	"github.com/drover-dev/drover/events"
)

// Controls are the operator's suspensions and windows (*control.Controls).
type Controls interface {
	// Suspend suspends the jobs ("name" or "namespace/name"), or the
	// whole instance when there are none, in Consul.
	Suspend(ctx context.Context, jobs []string, s control.Suspension) (control.Suspensions, error)
	// Resume lifts the suspensions of the jobs, or the instance's.
	Resume(ctx context.Context, jobs []string) (control.Suspensions, error)
	// Watch triggers a cycle whenever the suspensions change, until ctx
	// ends.
	Watch(ctx context.Context, trigger func(reason string), retry func(attempt int) time.Duration)
	// Status is what /v1/status says of them.
	Status() api.Controls
}

// controlRequest is the body of POST /v1/suspend and /v1/resume; every
// field is optional.
type controlRequest struct {
	Jobs   []string `json:"jobs"`
	Reason string   `json:"reason"`
	By     string   `json:"by"`
}

// maxControlBody bounds the body of a suspend or resume.
const maxControlBody = 64 << 10

// serveControl answers POST /v1/suspend (suspend) and /v1/resume. It
// writes Consul directly, so a standby serves it as well as the leader:
// the leader's watch of the key starts the cycle that acts on it.
func (a *Agent) serveControl(suspend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(w, r) {
			return
		}
		if a.opts.Controls == nil {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "suspensions need Consul state"})
			return
		}
		var req controlRequest
		body, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
		switch {
		case err != nil:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "read body: " + err.Error()})
			return
		case len(body) > maxControlBody:
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body over 64 KiB"})
			return
		case len(strings.TrimSpace(string(body))) > 0:
			if err := json.Unmarshal(body, &req); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body: want {"jobs":[...],"reason":"...","by":"..."}: ` + err.Error()})
				return
			}
		}
		if req.By == "" {
			req.By = "api"
		}
		var sus control.Suspensions
		if suspend {
			sus, err = a.opts.Controls.Suspend(r.Context(), req.Jobs, control.Suspension{By: req.By, At: time.Now().UTC(), Reason: req.Reason})
		} else {
			sus, err = a.opts.Controls.Resume(r.Context(), req.Jobs)
		}
		if err != nil {
			code := http.StatusServiceUnavailable
			var pe *control.JobError
			if errors.As(err, &pe) {
				code = http.StatusBadRequest
			}
			writeJSON(w, code, map[string]string{"error": err.Error()})
			return
		}
		var ev events.Event = events.APISuspend{Jobs: req.Jobs, By: req.By, RemoteAddr: r.RemoteAddr}
		if !suspend {
			ev = events.APIResume{Jobs: req.Jobs, By: req.By, RemoteAddr: r.RemoteAddr}
		}
		a.events.Emit(ev, "suspensions written; the leader acts on them in its next cycle")
		writeJSON(w, http.StatusOK, map[string]any{"suspensions": sus})
	}
}

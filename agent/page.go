package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/ui"
)

// newPage builds the web page and the event stream the options ask for.
func (a *Agent) newPage() error {
	var evs ui.Events
	if a.opts.Events != nil {
		evs = a.opts.Events
		a.stream = ui.NewEventStream(a.opts.Events)
	}
	if !a.opts.UI {
		return nil
	}
	opts := ui.Options{
		Status: func(ctx context.Context) ([]byte, error) {
			return json.Marshal(a.statusView(ctx))
		},
		Events:     evs,
		NomadUIURL: a.opts.NomadUIURL,
	}
	if a.opts.APIToken != "" {
		opts.Sync = a.pageSync
	}
	page, err := ui.New(opts)
	if err != nil {
		return fmt.Errorf("web page: %w", err)
	}
	a.page = page
	return nil
}

// pageSync is the page's "sync now": the token must be --api-token, like
// POST /v1/sync's bearer token.
func (a *Agent) pageSync(r *http.Request, token string) (int, string) {
	if token == "" || !equalSecret(token, a.opts.APIToken) {
		a.events.Emit(events.APIRejected{Path: r.URL.Path, RemoteAddr: r.RemoteAddr, Reason: "token does not match --api-token"},
			"API request refused")
		return http.StatusUnauthorized, "token does not match --api-token"
	}
	code, answer := a.requestSync(r.Context(), "ui")
	if msg, ok := answer["error"]; ok {
		return code, msg
	}
	return code, answer["status"]
}

package preflight

import (
	"net"
)

// HTTPCheck checks the agent's HTTP surface.
type HTTPCheck struct {
	// Listen is --listen; "" means the agent serves nothing.
	Listen string
	// APIToken and WebhookSecret say whether --api-token and
	// --webhook-secret are set; their values never reach a check.
	APIToken, WebhookSecret bool
}

func (h *HTTPCheck) run() []Check {
	if h.Listen == "" {
		return nil
	}
	api := Check{Name: "http: POST /v1/sync guarded on " + h.Listen, OK: true}
	if !loopback(h.Listen) && !h.APIToken {
		api.OK = false
		api.Detail = "--listen is reachable beyond this host and anyone reaching it can trigger syncs"
		api.Fix = "set --api-token (DROVER_API_TOKEN), e.g. $(openssl rand -hex 32), or listen on 127.0.0.1"
	} else if !h.APIToken {
		api.Detail = "loopback only"
	}
	hook := Check{Name: "http: webhooks", OK: true, Detail: "on, authenticated with --webhook-secret"}
	if !h.WebhookSecret {
		hook.Detail = "off: refused without --webhook-secret"
	}
	return []Check{api, hook}
}

// loopback reports whether addr (host:port, or :port for every
// interface) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

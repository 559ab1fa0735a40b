package nomad

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/nomad/api"
)

// Option configures New.
type Option func(*options)

type options struct {
	wrapTransport func(http.RoundTripper) http.RoundTripper
	tokenFile     string
}

// WithTokenFile has every request carry the token in path instead of
// NOMAD_TOKEN, read again whenever the file changes: a rotated token (a
// workload identity's, renewed by Nomad) is used from the next request
// on, without a restart.
func WithTokenFile(path string) Option {
	return func(o *options) { o.tokenFile = path }
}

// WithTransport has every request of the client, blocking queries and the
// event stream included, go through wrap(transport), where transport is
// the one the Nomad API client would use: its TLS settings (NOMAD_CACERT,
// NOMAD_CLIENT_CERT, NOMAD_SKIP_VERIFY…) stay in force. It is how metrics
// count Nomad calls without this package knowing about metrics.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.wrapTransport = wrap }
}

// httpClient builds the HTTP client api.NewClient would build for cfg,
// then wraps its transport. The API client only configures TLS on a
// client it builds itself, and only on a bare *http.Transport, so the TLS
// setup runs here, on the bare transport, before it is wrapped.
func httpClient(cfg *api.Config, wrap func(http.RoundTripper) http.RoundTripper) (*http.Client, error) {
	u, err := url.Parse(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("invalid address %q: %w", cfg.Address, err)
	}
	tr := cleanhttp.DefaultPooledTransport()
	if u.Scheme == "unix" {
		socket := u.EscapedPath()
		tr = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}}
		// The request URL only needs a host; the dialer ignores it.
		cfg.Address = "http://127.0.0.1"
	}
	// The API client's own defaults for its transport.
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = false // Nomad's exec websockets need HTTP/1
	hc := &http.Client{Transport: tr}
	if err := api.ConfigureTLS(hc, cfg.TLSConfig); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	hc.Transport = wrap(tr)
	return hc, nil
}

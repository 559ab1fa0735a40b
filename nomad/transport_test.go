package nomad

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// counting wraps a transport and counts the requests that pass through it.
func counting(n *atomic.Int32) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return next.RoundTrip(r)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func leaderHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/status/leader" {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write([]byte(`"127.0.0.1:4647"`))
}

// TestWithTransport_KeepsTLSSettings: the wrapped transport is the API
// client's own, so NOMAD_CACERT still decides whom to trust.
func TestWithTransport_KeepsTLSSettings(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(leaderHandler))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOMAD_ADDR", srv.URL)
	t.Setenv("NOMAD_CACERT", ca)

	var n atomic.Int32
	c, err := New(WithTransport(counting(&n)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leader(context.Background()); err != nil {
		t.Fatalf("leader over TLS with NOMAD_CACERT: %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("wrapper saw %d requests, want 1", n.Load())
	}

	// Without the CA the same server must be refused: TLS verification is
	// still on behind the wrapper.
	t.Setenv("NOMAD_CACERT", "")
	c, err = New(WithTransport(counting(&n)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leader(context.Background()); err == nil {
		t.Error("a server signed by an unknown CA was trusted")
	}
}

func TestWithTransport_UnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "nomad-sock-") // short path: sockets have a length limit
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(leaderHandler)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	t.Setenv("NOMAD_ADDR", "unix://"+sock)

	var n atomic.Int32
	c, err := New(WithTransport(counting(&n)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leader(context.Background()); err != nil {
		t.Fatalf("leader over a unix socket: %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("wrapper saw %d requests, want 1", n.Load())
	}
}

func TestNew_WithoutOptionsIsTheAPIDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(leaderHandler))
	defer srv.Close()
	t.Setenv("NOMAD_ADDR", srv.URL)
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leader(context.Background()); err != nil {
		t.Fatal(err)
	}
}

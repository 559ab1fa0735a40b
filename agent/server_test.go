package agent

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/rs/zerolog"
)

// startServer serves h with lim on a loopback port and returns its address
// and the most connections it ever held open at once.
func startServer(t *testing.T, h http.Handler, lim serverLimits) (addr string, peak func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServerWithLimits(h, nil, lim)
	counted := &countingListener{Listener: limitListener(ln, lim.MaxConns)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(counted)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String(), counted.peak
}

// countingListener records the most connections open at once. A
// connection stops counting before its Close gives the slot back, so the
// count never runs ahead of the cap it measures.
type countingListener struct {
	net.Listener
	mu         sync.Mutex
	open, most int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.most = max(l.most, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) peak() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.most
}

type countedConn struct {
	net.Conn
	once sync.Once
	l    *countingListener
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func shortLimits() serverLimits {
	return serverLimits{
		ReadHeader:     200 * time.Millisecond,
		Read:           2 * time.Second,
		Write:          2 * time.Second,
		Idle:           2 * time.Second,
		MaxHeaderBytes: 4 << 10,
		MaxConns:       16,
		MaxInFlight:    2,
	}
}

func TestServer_IdleConnectionFloodDoesNotStopARealRequest(t *testing.T) {
	lim := shortLimits()
	lim.MaxConns = 64
	addr, peak := startServer(t, newTestAgent(t).Handler(), lim)

	// Many more silent connections than the cap: the excess waits in the
	// accept queue until the server times out the ones it holds.
	const flood = 300
	conns := make([]net.Conn, 0, flood)
	for range flood {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		conns = append(conns, c)
	}

	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("a real request during the flood: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable { // no cycle has run: 503 "first sync…" is the real answer
		t.Errorf("GET /healthz during the flood: %d", resp.StatusCode)
	}

	// Every silent connection is closed by the server (EOF or reset), not
	// left open until our own deadline fires.
	deadline := time.Now().Add(20 * time.Second)
	for i, c := range conns {
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("idle connection %d still open after 20s; the server holds silent clients", i)
		}
		if n > 0 && err == nil {
			// A 408 may be written before the close; read on to the close.
			if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("idle connection %d answered but not closed", i)
			}
		}
	}
	if got := peak(); got > lim.MaxConns {
		t.Errorf("server held %d connections at once, cap is %d", got, lim.MaxConns)
	}
}

func TestServer_ClosesASilentConnectionWithinTheHeaderTimeout(t *testing.T) {
	lim := shortLimits()
	lim.ReadHeader = 300 * time.Millisecond
	addr, _ := startServer(t, newTestAgent(t).Handler(), lim)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	// The bound is loose for a busy machine, and still well short of the
	// other timeouts (2s), so only the header timeout can have closed it.
	_ = c.SetReadDeadline(start.Add(1500 * time.Millisecond))
	_, err = io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent connection still open after %s; ReadHeader is %s", time.Since(start), lim.ReadHeader)
	}
}

func TestServer_InFlightCapAnswers503(t *testing.T) {
	lim := shortLimits()
	lim.MaxInFlight = 2
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		_, _ = w.Write([]byte("ok"))
	})
	addr, _ := startServer(t, h, lim)
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (*http.Response, string, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}

	var wg sync.WaitGroup
	for range lim.MaxInFlight {
		wg.Go(func() {
			if resp, _, err := get("/slow"); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("request within the cap: %v %v", resp, err)
			}
		})
	}
	for range lim.MaxInFlight {
		<-entered
	}
	resp, body, err := get("/fast")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "in flight") {
		t.Errorf("request over the cap: %d Retry-After=%q %s; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(release)
	wg.Wait()
	if resp, _, err := get("/fast"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("request after the slow ones finished: %v %v", resp, err)
	}
}

func TestServer_RefusesOversizedHeaders(t *testing.T) {
	lim := shortLimits()
	addr, _ := startServer(t, newTestAgent(t).Handler(), lim)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Pad", strings.Repeat("x", 4*lim.MaxHeaderBytes))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

func TestServer_ErrorLogGoesToZerolog(t *testing.T) {
	var buf bytes.Buffer
	srv := newServer(http.NotFoundHandler(), events.NewEmitter(zerolog.New(&buf), nil))
	srv.ErrorLog.Printf("http: Accept error: too many open files; retrying in 5ms")
	if !strings.Contains(buf.String(), `"event":"http.serve_error"`) || !strings.Contains(buf.String(), "too many open files") {
		t.Errorf("log = %s", buf.String())
	}
}

func TestDefaultServerLimits_AreAllSet(t *testing.T) {
	lim := defaultServerLimits()
	srv := newServer(http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("server without a limit: %+v", srv)
	}
	if lim.MaxConns != maxConns() || lim.MaxConns <= lim.MaxInFlight || lim.MaxInFlight <= 0 {
		t.Errorf("caps: %+v", lim)
	}
	// A webhook body of the largest size must fit in the read timeout at a
	// modest 2 Mbit/s.
	if need := time.Duration(maxWebhookBody*8/2_000_000) * time.Second; lim.Read < need {
		t.Errorf("Read %s is too short for a %d-byte body at 2 Mbit/s (%s)", lim.Read, maxWebhookBody, need)
	}
}

func TestLimitListener_CloseEndsAnAcceptWaitingForASlot(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 1)
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept() // waits: the only slot is taken
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still waiting for a slot after Close")
	}
	// A closed connection gives its slot back, once however often closed.
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	_ = held.Close()
	if n := len(ln.(*limitedListener).slots); n != 0 {
		t.Errorf("%d slots taken after every connection closed", n)
	}
}

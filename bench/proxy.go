package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// callCounter counts Nomad API calls. Blocking queries (the agent's cluster
// watch: they carry a wait parameter) are counted apart, because they are
// not part of any cycle.
type callCounter struct {
	mu       sync.Mutex
	calls    map[string]int // "GET /v1/jobs" → count
	watching int
	bytes    map[string]int64 // response body bytes by kind, blocking ones too
	// first and last are when each kind was first and last called.
	first, last map[string]time.Time
}

func (c *callCounter) count(r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.URL.Query().Get("wait") != "" {
		c.watching++
		return
	}
	if c.calls == nil {
		c.calls = map[string]int{}
		c.first, c.last = map[string]time.Time{}, map[string]time.Time{}
	}
	k := kindOf(r)
	c.calls[k]++
	now := time.Now()
	if _, ok := c.first[k]; !ok {
		c.first[k] = now
	}
	c.last[k] = now
}

// spans says, per kind, when its first and last call came relative to t0.
func (c *callCounter) spans(t0 time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for k, f := range c.first {
		parts = append(parts, fmt.Sprintf("%s %.1f–%.1fs", k, f.Sub(t0).Seconds(), c.last[k].Sub(t0).Seconds()))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// kindOf names a request by method and path, with job IDs left out; a
// plan is a kind of its own, and a blocking query is marked.
func kindOf(r *http.Request) string {
	path := r.URL.Path
	if strings.HasPrefix(path, "/v1/job/") {
		if strings.HasSuffix(path, "/plan") {
			path = "/v1/job/:id/plan"
		} else {
			path = "/v1/job/:id…"
		}
	}
	k := r.Method + " " + path
	if path == "/v1/event/stream" && len(r.URL.Query()["topic"]) > 0 {
		// The rollout watch's stream and the cluster watch's apart.
		k += " " + strings.SplitN(r.URL.Query()["topic"][0], ":", 2)[0]
	}
	if r.URL.Query().Get("wait") != "" || r.URL.Query().Get("index") != "" {
		k += " (blocking)"
	}
	return k
}

// addBytes counts n bytes of response body of kind.
func (c *callCounter) addBytes(kind string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bytes == nil {
		c.bytes = map[string]int64{}
	}
	c.bytes[kind] += n
}

// byteSnapshot returns the response bytes so far, by kind.
func (c *callCounter) byteSnapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.bytes))
	for k, v := range c.bytes {
		out[k] = v
	}
	return out
}

// byteCounter counts what the proxy writes back to the agent as it goes,
// so a stream still open when a measure is taken counts what it sent.
type byteCounter struct {
	http.ResponseWriter
	counter *callCounter
	kind    string
}

func (w *byteCounter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.counter.addBytes(w.kind, int64(n))
	return n, err
}

// Flush passes streamed answers (the event stream) on as they come.
func (w *byteCounter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// snapshot returns the calls so far, by kind, and their total.
func (c *callCounter) snapshot() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	total := 0
	for k, v := range c.calls {
		out[k] = v
		total += v
	}
	return out, total
}

// countingTransport counts the requests of an in-process client.
type countingTransport struct {
	next    http.RoundTripper
	counter *callCounter
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.counter.count(r)
	return t.next.RoundTrip(r)
}

// proxy is a counting reverse proxy on 127.0.0.1 in front of Nomad, for the
// agent process.
type proxy struct {
	counter callCounter
	srv     *http.Server
	addr    string
}

func startProxy(target string) (*proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("proxy target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &proxy{addr: "http://" + ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	// The agent's watch query is cut off when the agent stops; that is
	// not worth a line in the bench's output.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.counter.count(r)
		rp.ServeHTTP(&byteCounter{ResponseWriter: w, counter: &p.counter, kind: kindOf(r)}, r)
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *proxy) close() { _ = p.srv.Close() }

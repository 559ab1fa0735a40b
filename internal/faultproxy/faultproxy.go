// Package faultproxy is an HTTP reverse proxy that a test puts between
// drover and Nomad's or Consul's HTTP API, to make one endpoint hang,
// refuse, slow down or fail while everything else passes through.
//
// It is HTTP-aware rather than a TCP pipe because the faults worth testing
// are per call: "the parse request hangs" while the job list still answers,
// or "the KV write hangs" while the health feed streams. Responses stream
// through unbuffered, so blocking queries and Nomad's event stream behave
// as they do without the proxy.
//
// A test never sleeps to let a fault take effect: every request is logged,
// and WaitHanging / WaitCount block until the fact the test needs ("a parse
// request is being held now") is true.
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Request is one request the proxy received.
type Request struct {
	Method, Path, Query string
	At                  time.Time
}

type ruleMode struct {
	rule Rule
	mode Mode
}

// held is a request being held by a hang.
type held struct {
	method, path, query string
}

// Proxy is one running proxy. Its methods are safe for concurrent use.
type Proxy struct {
	target *url.URL
	ln     net.Listener
	srv    *http.Server
	rp     *httputil.ReverseProxy
	served chan struct{}
	// base is every request's context, cancelled by Close so forwarded
	// long polls end with the proxy. The proxy owns it: New has no caller
	// context to derive from, and Close is the owner's stop.
	base   context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	// rules in the order set; the last one that matches decides.
	rules []ruleMode
	// all, when not Forward, overrides every rule: HangAll, RefuseAll.
	all Mode
	// changed is closed, and replaced, when rules or all change, waking
	// held requests to look again; heldChanged likewise when a request is
	// held or let go, or one arrives, waking WaitHanging and WaitCount.
	changed     chan struct{}
	heldChanged chan struct{}
	held        map[*held]struct{}
	// forwarding are the requests being forwarded, with what cuts each.
	forwarding map[*held]context.CancelFunc
	requests   []Request
	conns      map[net.Conn]struct{}
	closed     bool
	handlers   sync.WaitGroup
}

// New starts a proxy to target ("http://host:port", or "host:port" as
// CONSUL_HTTP_ADDR takes it) listening on a free loopback port.
func New(target string) (*Proxy, error) {
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not host:port or a URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	base, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target:      u,
		base:        base,
		cancel:      cancel,
		served:      make(chan struct{}),
		changed:     make(chan struct{}),
		heldChanged: make(chan struct{}),
		held:        map[*held]struct{}{},
		conns:       map[net.Conn]struct{}{},
	}
	p.ln = &listener{Listener: ln, p: p}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// The target is loopback: an HTTP_PROXY in the environment must not
	// put a second proxy in the way.
	transport.Proxy = nil
	transport.MaxIdleConnsPerHost = 64
	p.rp = &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: transport,
		// Flush every write at once: blocking queries and event streams
		// must reach the client as the target sends them.
		FlushInterval:  -1,
		ModifyResponse: p.atResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if base.Err() != nil || errors.Is(err, errRefused) {
				// The client must see the connection end, not a proxy's
				// 502 it could mistake for the target's answer.
				panic(http.ErrAbortHandler)
			}
			if r.Context().Err() == nil {
				http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
			}
		},
		// A stream cut by a client that gave up, or by Close, is not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{
		Handler:     p,
		BaseContext: func(net.Listener) context.Context { return base },
		ConnState:   p.connState,
		ErrorLog:    log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(p.served)
		_ = p.srv.Serve(p.ln)
	}()
	return p, nil
}

// Addr is the proxy's host:port, the form CONSUL_HTTP_ADDR takes.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's base URL, the form NOMAD_ADDR takes.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Close stops the proxy: it closes the listener and every connection,
// which ends every held, slowed and forwarded request, and waits for them.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.notifyLocked()
	p.mu.Unlock()
	p.cancel()
	err := p.srv.Close()
	<-p.served
	p.handlers.Wait()
	return err
}

// Set makes the requests r selects get mode m, from now on and for the
// requests already held by a hang r selects. The rule set last wins over
// earlier ones that also match.
func (p *Proxy) Set(r Rule, m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(r)
	p.rules = append(p.rules, ruleMode{rule: r, mode: m})
	p.notifyLocked()
}

// Clear removes the rule: what it selected is forwarded again, including
// the requests it holds.
func (p *Proxy) Clear(r Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(r)
	p.notifyLocked()
}

// Reset removes every rule and whole-proxy mode; the request log stays.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.all = nil, Forward()
	p.notifyLocked()
}

// RefuseAll closes every connection, those open now and every new one, at
// once: as a target that died.
func (p *Proxy) RefuseAll() {
	p.mu.Lock()
	p.all = Refuse()
	p.notifyLocked()
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// HangAll holds every request, whatever the rules: as a target that
// accepts connections and never answers. Requests already being forwarded
// are left alone.
func (p *Proxy) HangAll() { p.setAll(Hang()) }

// ForwardAll ends HangAll or RefuseAll: the rules apply again.
func (p *Proxy) ForwardAll() { p.setAll(Forward()) }

func (p *Proxy) setAll(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all = m
	p.notifyLocked()
}

// Count is how many requests r selects the proxy has received, whatever
// was done with them.
func (p *Proxy) Count(r Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.countLocked(r)
}

// Hanging is how many requests r selects are being held now.
func (p *Proxy) Hanging(r Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hangingLocked(r)
}

// Requests returns every request received so far, oldest first.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.requests...)
}

// WaitHanging blocks until at least n requests r selects are being held,
// or ctx ends.
func (p *Proxy) WaitHanging(ctx context.Context, r Rule, n int) error {
	return p.wait(ctx, func() bool { return p.hangingLocked(r) >= n },
		func() string { return fmt.Sprintf("%d of %d requests %s hanging", p.hangingLocked(r), n, r) })
}

// WaitCount blocks until the proxy has received at least n requests r
// selects, or ctx ends.
func (p *Proxy) WaitCount(ctx context.Context, r Rule, n int) error {
	return p.wait(ctx, func() bool { return p.countLocked(r) >= n },
		func() string { return fmt.Sprintf("%d of %d requests %s received", p.countLocked(r), n, r) })
}

func (p *Proxy) wait(ctx context.Context, done func() bool, state func() string) error {
	for {
		p.mu.Lock()
		if done() {
			p.mu.Unlock()
			return nil
		}
		ch := p.heldChanged
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			s := state()
			p.mu.Unlock()
			return fmt.Errorf("faultproxy to %s: %s: %w", p.target.Host, s, ctx.Err())
		}
	}
}

func (p *Proxy) countLocked(r Rule) int {
	n := 0
	for _, req := range p.requests {
		if r.Matches(req.Method, req.Path, req.Query) {
			n++
		}
	}
	return n
}

func (p *Proxy) hangingLocked(r Rule) int {
	n := 0
	for h := range p.held {
		if r.Matches(h.method, h.path, h.query) {
			n++
		}
	}
	return n
}

func (p *Proxy) removeLocked(r Rule) {
	kept := p.rules[:0]
	for _, rm := range p.rules {
		if rm.rule != r {
			kept = append(kept, rm)
		}
	}
	p.rules = kept
}

// notifyLocked wakes the held requests, to look at the rules again.
func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) heldNotifyLocked() {
	close(p.heldChanged)
	p.heldChanged = make(chan struct{})
}

// decide is the mode for a request now, and the channel closed when that
// may change.
func (p *Proxy) decide(r *http.Request) (Mode, <-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return Mode{}, nil, false
	}
	if p.all.kind != forward {
		return p.all, p.changed, true
	}
	for i := len(p.rules) - 1; i >= 0; i-- {
		if p.rules[i].rule.Matches(r.Method, r.URL.Path, r.URL.RawQuery) {
			return p.rules[i].mode, p.changed, true
		}
	}
	return Forward(), p.changed, true
}

// ServeHTTP applies the mode the rules give the request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Counted under the lock Close takes to set closed, so that no handler
	// starts once Close waits for them.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		abort(w)
		return
	}
	p.handlers.Add(1)
	p.mu.Unlock()
	defer p.handlers.Done()
	// The whole body is read first: a hung server has read the request,
	// and only once the body is consumed does net/http notice a client
	// that hangs up (and cancel r's context), which is how a held request
	// whose client gave up is let go.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }

	p.mu.Lock()
	p.requests = append(p.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, At: time.Now()})
	p.heldNotifyLocked()
	p.mu.Unlock()

	for {
		m, changed, ok := p.decide(r)
		if !ok {
			abort(w)
			return
		}
		switch m.kind {
		case hang:
			if !p.hold(r, changed) {
				// The client left or the proxy closed: whatever is left
				// of the connection must not carry a response.
				abort(w)
				return
			}
			continue // the rules changed: look again
		case refuse:
			abort(w)
			return
		case status:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(m.code)
			_, _ = io.WriteString(w, m.body)
			return
		case slow:
			t := time.NewTimer(m.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				abort(w)
				return
			}
		}
		ctx, cut := context.WithCancel(r.Context())
		f := &held{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery}
		p.mu.Lock()
		if p.forwarding == nil {
			p.forwarding = map[*held]context.CancelFunc{}
		}
		p.forwarding[f] = cut
		p.mu.Unlock()
		// Deferred: a response cut mid-stream ends the handler with
		// http.ErrAbortHandler.
		defer func() {
			p.mu.Lock()
			delete(p.forwarding, f)
			p.mu.Unlock()
			cut()
		}()
		p.rp.ServeHTTP(w, r.WithContext(ctx))
		return
	}
}

// Cut ends the responses being forwarded that r selects, mid-stream: a
// connection dropped under a long poll or Nomad's event stream. It
// returns how many it cut. Requests that come after pass as the rules say.
func (p *Proxy) Cut(r Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for f, cut := range p.forwarding {
		if r.Matches(f.method, f.path, f.query) {
			cut()
			n++
		}
	}
	return n
}

// errRefused ends a forwarded request whose answer a Refuse rule drops.
var errRefused = errors.New("faultproxy: response refused")

// atResponse applies Hang and Refuse to the target's answer too, before any
// of it reaches the client: a server that stops answering also leaves the
// blocking queries already waiting on it unanswered. Once a response has
// started (a stream), the rest of it passes.
func (p *Proxy) atResponse(resp *http.Response) error {
	r := resp.Request
	for {
		m, changed, ok := p.decide(r)
		switch {
		case !ok:
			return errRefused
		case m.kind == hang:
			if !p.hold(r, changed) {
				return r.Context().Err()
			}
			continue
		case m.kind == refuse:
			return errRefused
		}
		return nil
	}
}

// hold keeps r until changed is closed (true) or its client or the proxy
// goes away (false).
func (p *Proxy) hold(r *http.Request, changed <-chan struct{}) bool {
	h := &held{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery}
	p.mu.Lock()
	p.held[h] = struct{}{}
	p.heldNotifyLocked()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.held, h)
		p.heldNotifyLocked()
		p.mu.Unlock()
	}()
	select {
	case <-changed:
		return true
	case <-r.Context().Done():
		return false
	}
}

// abort closes the request's connection without a response.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable: the next best thing is to end the connection
		// from the handler.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

func (p *Proxy) connState(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(p.conns, c)
	}
}

// listener closes new connections at once while the proxy refuses all.
type listener struct {
	net.Listener
	p *Proxy
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.p.mu.Lock()
		refusing := l.p.all.kind == refuse
		l.p.mu.Unlock()
		if !refusing {
			return c, nil
		}
		c.Close()
	}
}

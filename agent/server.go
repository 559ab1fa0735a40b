package agent

import (
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/drover-dev/drover/events"
)

// serverLimits bound what clients can hold of the agent's HTTP server: a
// client that connects and sends nothing, sends slowly, or reads slowly is
// cut off, and a flood of connections or requests cannot take the file
// descriptors and goroutines the git fetch and the Nomad calls need.
type serverLimits struct {
	// ReadHeader bounds the wait for a request's headers, including the
	// first byte on a new connection: an idle connection is closed after it.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included. Webhook bodies
	// are at most maxWebhookBody, so this is also the slowest upload served.
	Read time.Duration
	// Write bounds writing a response, from the end of the headers read.
	Write time.Duration
	// Idle bounds a keep-alive connection waiting for its next request.
	Idle time.Duration
	// MaxHeaderBytes caps request headers; push deliveries carry a few KiB.
	MaxHeaderBytes int
	// MaxConns caps open connections. Past it, new connections wait in the
	// kernel's accept queue, costing the process no file descriptor.
	MaxConns int
	// MaxInFlight caps requests being handled at once; past it a request is
	// answered 503 at once rather than queued.
	MaxInFlight int
}

// defaultServerLimits are generous for a health checker, a Prometheus
// scraper and a git host's webhooks, and small next to a process's usual
// file limit.
func defaultServerLimits() serverLimits {
	return serverLimits{
		ReadHeader:     10 * time.Second,
		Read:           30 * time.Second,
		Write:          30 * time.Second,
		Idle:           60 * time.Second,
		MaxHeaderBytes: 64 << 10,
		MaxConns:       256,
		MaxInFlight:    64,
	}
}

// newServer builds the agent's HTTP server around h with the default
// limits. Serve it on limitListener(ln, maxConns()), or the connection cap
// does not hold.
func newServer(h http.Handler, em *events.Emitter) *http.Server {
	return newServerWithLimits(h, em, defaultServerLimits())
}

// maxConns is the connection cap of newServer's limits, for limitListener.
func maxConns() int { return defaultServerLimits().MaxConns }

func newServerWithLimits(h http.Handler, em *events.Emitter, lim serverLimits) *http.Server {
	return &http.Server{
		Handler:           limitInFlight(h, lim.MaxInFlight),
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		// net/http reports accept errors and handler panics on a standard
		// logger; send them where every other line goes.
		ErrorLog: eventLog(em),
	}
}

// limitInFlight answers 503 with Retry-After when n requests are already
// being handled. It never blocks: a queue would only hold the flood's
// connections open longer.
func limitInFlight(h http.Handler, n int) http.Handler {
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
		default:
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "too many requests in flight; retry shortly"})
			return
		}
		defer func() { <-sem }()
		h.ServeHTTP(w, r)
	})
}

// limitListener returns ln accepting at most n connections open at once.
// Accept waits while n are open, so the excess stays in the kernel's accept
// queue; closing the listener ends that wait.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, slots: make(chan struct{}, n), closed: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitedConn gives its slot back once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// eventLog adapts em for http.Server.ErrorLog: one http.serve_error event
// per line.
func eventLog(em *events.Emitter) *stdlog.Logger {
	return stdlog.New(stdLogWriter{emit: func(line string) {
		em.Emit(events.HTTPServeError{Error: line}, "HTTP server complaint")
	}}, "", 0)
}

// stdLogWriter turns the lines net/http writes into calls of emit.
type stdLogWriter struct{ emit func(string) }

func (w stdLogWriter) Write(p []byte) (int, error) {
	w.emit(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

package main

import (
	"fmt"
	"log"
	"net/http"
	"sync/atomic"
	"time"
)

// server holds the only mutable state hello has: whether /health passes.
type server struct {
	version   string
	unhealthy atomic.Bool
	// warmUntil is when /health starts passing on its own: a service
	// that takes a while to start.
	warmUntil time.Time
}

func newServer(version string, unhealthy bool, unhealthyFor time.Duration) http.Handler {
	s := &server{version: version, warmUntil: time.Now().Add(unhealthyFor)}
	s.unhealthy.Store(unhealthy)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.hello)
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("POST /admin/unhealthy", s.setHealth(true))
	mux.HandleFunc("POST /admin/healthy", s.setHealth(false))
	return mux
}

func (s *server) hello(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "hello from hello %s\n", s.version)
}

func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	if s.unhealthy.Load() || time.Now().Before(s.warmUntil) {
		http.Error(w, "unhealthy", http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, "ok\n")
}

func (s *server) setHealth(unhealthy bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		s.unhealthy.Store(unhealthy)
		if unhealthy {
			fmt.Fprint(w, "unhealthy\n")
			return
		}
		fmt.Fprint(w, "ok\n")
	}
}

// statusRecorder remembers the status code so the access log can show it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests writes one line per request: with Nomad capturing stdout, that
// line is how a person watching `nomad alloc logs` sees checks and traffic.
func logRequests(logger *log.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.Printf("%s %s %d %s %s", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Microsecond), r.RemoteAddr)
	})
}

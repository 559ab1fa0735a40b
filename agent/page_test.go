package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/internal/testutil"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/rs/zerolog"
)

func newPageAgent(t *testing.T, opts Options) *Agent {
	t.Helper()
	opts.Describe = map[string]string{"instance": "prod", "repo": "https://github.com/acme/jobs.git"}
	a, err := New(runnerOver(func(context.Context) (jobs.Tree, error) { return nil, errors.New("unused") },
		&jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHandler_MountsThePageOnlyWithUI(t *testing.T) {
	for _, tc := range []struct {
		ui   bool
		want int
	}{{true, http.StatusOK}, {false, http.StatusNotFound}} {
		a := newPageAgent(t, Options{UI: tc.ui, Events: events.NewBus(10)})
		if w := serve(a, "GET", "/"); w.Code != tc.want {
			t.Errorf("UI=%t: GET / = %d, want %d", tc.ui, w.Code, tc.want)
		}
		// The events API is there either way.
		if w := serve(a, "GET", "/v1/events"); w.Code != http.StatusOK {
			t.Errorf("UI=%t: GET /v1/events = %d", tc.ui, w.Code)
		}
	}
}

func TestHandler_PageShowsStatusAndEvents(t *testing.T) {
	bus := events.NewBus(10)
	events.NewEmitter(zerolog.Nop(), bus).Emit(events.RollbackApplied{Subject: events.Subject{Job: "web"}}, "rolled back")
	a := newPageAgent(t, Options{UI: true, Events: bus})
	w := serve(a, "GET", "/")
	body := w.Body.String()
	for _, want := range []string{"prod", `href="https://github.com/acme/jobs"`, "rollback.applied", "rolled back"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if w.Header().Get("Content-Security-Policy") == "" {
		t.Error("page has no Content-Security-Policy")
	}
}

func TestPageSync_NeedsTheAPIToken(t *testing.T) {
	const token = "t0ken-value"
	a := newPageAgent(t, Options{UI: true, APIToken: token})
	h := a.Handler()
	post := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/sync", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := post("wrong"); w.Header().Get("Location") != "/?sync=refused" {
		t.Errorf("wrong token: %d to %q", w.Code, w.Header().Get("Location"))
	}
	select {
	case <-a.trigger:
		t.Fatal("a wrong token started a sync")
	default:
	}
	w := post(token)
	if w.Header().Get("Location") != "/?sync=started" || strings.Contains(w.Body.String(), token) {
		t.Errorf("right token: %d to %q", w.Code, w.Header().Get("Location"))
	}
	select {
	case r := <-a.trigger:
		if r.reason != "ui" {
			t.Errorf("sync reason %q, want ui", r.reason)
		}
	default:
		t.Fatal("the right token started no sync")
	}
	if body := serve(a, "GET", "/").Body.String(); strings.Contains(body, token) {
		t.Error("the page shows the API token")
	}
}

// TestRun_ShutdownEndsEventStreams: a page left open holds an event stream
// that never goes idle; stopping the agent must end it rather than leave
// its handler running past the server's shutdown.
func TestRun_ShutdownEndsEventStreams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := newPageAgent(t, Options{UI: true, Events: events.NewBus(10), Listen: addr, Interval: time.Hour,
		Backoff: func(int) time.Duration { return time.Hour }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	var resp *http.Response
	testutil.WaitFor(t, 10*time.Second, "the agent serving", func() (bool, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/events", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err = http.DefaultClient.Do(req)
		return err == nil, fmt.Sprint(err)
	})
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("stream began with %q, %v", line, err)
	}
	cancel()
	ended := make(chan error, 1)
	go func() { _, err := io.ReadAll(r); ended <- err }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream is still open after the agent stopped")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

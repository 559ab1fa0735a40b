package agent

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/source"
	"github.com/rs/zerolog"
)

// TestStalled_LoggedOnceRetriedSlowlyAndNamedByHealthz: a ref that does not
// exist cannot be fixed by retrying. The agent says so once, waits
// StalledRetry (not the backoff) before trying again by itself, still
// runs a cycle at once when triggered, and /healthz names the ref.
func TestStalled_LoggedOnceRetriedSlowlyAndNamedByHealthz(t *testing.T) {
	log := &testutil.Buffer{}
	fetches := make(chan struct{}, 10)
	src := func(context.Context) (jobs.Tree, error) {
		fetches <- struct{}{}
		return nil, fmt.Errorf(`resolve ref "nope" in file:///repo: no such branch or tag: %w`, source.ErrRefNotFound)
	}
	a, err := New(runnerOver(src, &jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), nil), Options{
		Listen: "-", Interval: time.Hour, StalledRetry: time.Hour,
		// A transient failure would be retried at once.
		Backoff: func(int) time.Duration { return time.Millisecond },
		Logger:  zerolog.New(log),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	<-fetches
	waitCycles(t, log, 1)
	a.Trigger("api")
	<-fetches
	waitCycles(t, log, 2)

	if n := len(log.Events("sync.stalled")); n != 1 {
		t.Errorf("%d sync.stalled events for one unchanged reason, want 1", n)
	}
	for _, e := range log.Events("sync.done") {
		if e["kind"] != "stalled" || e["step"] != "fetch" || e["retry_in"] != "1h0m0s" {
			t.Errorf("sync.done %v: want kind stalled, step fetch, retry_in 1h", e)
		}
	}
	select {
	case <-fetches:
		t.Error("a stalled agent retried by itself on the backoff")
	default:
	}
	w := serve(a, http.MethodGet, "/healthz")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "stalled") || !strings.Contains(w.Body.String(), `"nope"`) {
		t.Errorf("/healthz = %d %q, want 503 naming the stall and the ref", w.Code, w.Body)
	}
}

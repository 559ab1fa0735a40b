// Package testutil holds what drover's tests share besides the dev
// cluster (internal/testcluster): one way to wait for a fact, and one
// buffer an agent can log into while the test reads it.
package testutil

import (
	"context"
	"testing"
	"time"
)

// Until asks cond every interval until it holds, and returns what cond last
// observed when it gives up because ctx ended. cond's second result says
// what it saw, so a failure reports the state the wait ended in rather than
// only that it ended.
func Until(ctx context.Context, interval time.Duration, cond func() (ok bool, observed string)) (string, error) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, observed := cond()
		if ok {
			return observed, nil
		}
		select {
		case <-ctx.Done():
			return observed, ctx.Err()
		case <-tick.C:
		}
	}
}

// WaitFor waits until cond holds, and fails t after timeout saying what was
// awaited and what cond last observed. The timeout bounds a wait for a
// fact; it is never a performance threshold, so it should be generous.
// cond is asked about 400 times within the timeout (at least every 250ms,
// at most every millisecond): often enough that a test does not wait long
// past the fact, rarely enough that reading an agent's whole log or asking
// its API each time stays cheap on a loaded machine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, observed string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if observed, err := Until(ctx, PollInterval(timeout), cond); err != nil {
		t.Fatalf("%s: not true within %s (last observed: %s)", what, timeout, observed)
	}
}

// PollInterval is how often WaitFor asks within timeout.
func PollInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/400, time.Millisecond), 250*time.Millisecond)
}

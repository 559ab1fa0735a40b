// Package testutil holds what drover's tests share besides the dev
// cluster (internal/testcluster): one way to wait for a fact, and one
// buffer an agent can log into while the test reads it.
package testutil

import (
	"context"
	"testing"
	"time"
)

// Until asks cond until it holds, and returns what cond last observed when
// it gives up because ctx ended. cond's second result says what it saw, so
// a failure reports the state the wait ended in rather than only that it
// ended. It asks at once, then after 1ms, doubling the pause up to every:
// a fact that comes quickly is seen quickly, and one that takes a while
// (a rollout, a Nomad deployment) costs a few asks a second, which matters
// when each ask reads an agent's whole log or queries a cluster.
func Until(ctx context.Context, every time.Duration, cond func() (ok bool, observed string)) (string, error) {
	pause := min(time.Millisecond, every)
	for {
		ok, observed := cond()
		if ok {
			return observed, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return observed, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, every)
	}
}

// WaitFor waits until cond holds, and fails t after timeout saying what was
// awaited and what cond last observed. The timeout bounds a wait for a
// fact; it is never a performance threshold, so it should be generous.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, observed string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if observed, err := Until(ctx, PollInterval(timeout), cond); err != nil {
		t.Fatalf("%s: not true within %s (last observed: %s)", what, timeout, observed)
	}
}

// PollInterval is the longest pause between two asks within timeout: about
// 40 asks in the timeout, at least every 250ms, at most every millisecond.
func PollInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/40, time.Millisecond), 250*time.Millisecond)
}

// Throughout checks that cond keeps holding for the whole window, and
// fails t at the first observation that it does not. It is for the one
// kind of check no fact can end: an absence (the agent did not retry by
// itself, a fenced process wrote nothing). Anything that happens has a fact
// to wait for with WaitFor instead. cond is asked about 40 times, the last
// time when the window has passed: an absence needs no quick answer, and
// such a cond often asks a cluster.
func Throughout(t testing.TB, window time.Duration, what string, cond func() (ok bool, observed string)) {
	t.Helper()
	tick := time.NewTicker(PollInterval(window))
	defer tick.Stop()
	end := time.NewTimer(window)
	defer end.Stop()
	for over := false; ; {
		if ok, observed := cond(); !ok {
			t.Fatalf("%s: broken within %s: %s", what, window, observed)
		}
		if over {
			return
		}
		select {
		case <-end.C:
			over = true
		case <-tick.C:
		}
	}
}

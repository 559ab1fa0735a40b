// Package backoff computes retry delays as a function of the attempt
// number, so every loop that retries (the agent's cycle, the cluster watch,
// the rollout watcher's queries) backs off the same way and tests can be
// deterministic.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Exponential returns the delay before retry n (n ≥ 1): base·2^(n-1),
// capped at max, less up to 20% jitter so many agents don't retry in step.
// jitter returns a number in [0,1); nil means math/rand, NoJitter none.
func Exponential(base, max time.Duration, jitter func() float64) func(int) time.Duration {
	if jitter == nil {
		jitter = rand.Float64
	}
	return func(n int) time.Duration {
		d := base
		for i := 1; i < n && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		return d - time.Duration(float64(d)*0.2*jitter())
	}
}

// NoJitter makes Exponential exact: for a single process whose retries
// cannot fall in step with others'.
func NoJitter() float64 { return 0 }

// Sleep waits d, or until ctx ends, and reports whether ctx is still live:
// the wait between a loop's retries that shutdown must cut short.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

package agent

import (
	"math/rand/v2"
	"time"
)

// ExponentialBackoff returns the delay before retry n (n ≥ 1): base·2^(n-1),
// capped at max, less up to 20% jitter so many agents don't retry in step.
// jitter returns a number in [0,1); nil means math/rand.
func ExponentialBackoff(base, max time.Duration, jitter func() float64) func(int) time.Duration {
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

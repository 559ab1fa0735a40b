package backoff

import (
	"testing"
	"time"
)

func TestExponential_DoublesToCapWithJitter(t *testing.T) {
	noJitter := Exponential(5*time.Second, time.Minute, func() float64 { return 0 })
	fullJitter := Exponential(5*time.Second, time.Minute, func() float64 { return 0.999999 })
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{4, 40 * time.Second},
		{5, time.Minute},
		{50, time.Minute},
	} {
		if got := noJitter(tc.attempt); got != tc.want {
			t.Errorf("attempt %d: got %s, want %s", tc.attempt, got, tc.want)
		}
		got := fullJitter(tc.attempt)
		if low := tc.want * 8 / 10; got < low || got > tc.want {
			t.Errorf("attempt %d with jitter: got %s, want within [%s, %s]", tc.attempt, got, low, tc.want)
		}
	}
}

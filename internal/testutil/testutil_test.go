package testutil

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestUntil_ReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	observed, err := Until(t.Context(), time.Millisecond, func() (bool, string) {
		n++
		return n == 3, fmt.Sprint(n)
	})
	if err != nil || observed != "3" {
		t.Fatalf("Until = %q, %v; want 3, nil", observed, err)
	}
}

func TestUntil_GivesUpWithTheLastObservationWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	n := 0
	observed, err := Until(ctx, time.Millisecond, func() (bool, string) {
		n++
		return false, fmt.Sprintf("asked %d times", n)
	})
	if !errors.Is(err, context.DeadlineExceeded) || observed != fmt.Sprintf("asked %d times", n) || n < 2 {
		t.Fatalf("Until = %q, %v after %d asks; want the last observation and the deadline", observed, err, n)
	}
}

func TestPollInterval_StaysBetweenAMillisecondAndAQuarterSecond(t *testing.T) {
	for _, tt := range []struct{ timeout, want time.Duration }{
		{10 * time.Millisecond, time.Millisecond},
		{time.Second, 25 * time.Millisecond},
		{6 * time.Second, 150 * time.Millisecond},
		{90 * time.Second, 250 * time.Millisecond},
	} {
		if got := PollInterval(tt.timeout); got != tt.want {
			t.Errorf("PollInterval(%s) = %s, want %s", tt.timeout, got, tt.want)
		}
	}
}

func TestBuffer_ConcurrentWritersAndReaders(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, `{"event":"e%d","n":%d}`+"\n", i%2, j)
				_ = b.Lines()
			}
		})
	}
	wg.Wait()
	if n := len(b.Lines()); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
	if n := len(b.Events("e1")); n != 400 {
		t.Errorf("%d e1 events, want 400", n)
	}
}

func TestBuffer_LinesLeavesOutAPartialLine(t *testing.T) {
	var b Buffer
	b.Write([]byte("one\ntwo\nthr"))
	if got := b.Lines(); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("Lines = %q", got)
	}
}

func TestEventsIn_SkipsLinesThatAreNotJSON(t *testing.T) {
	log := `{"event":"sync.done","n":1}` + "\npanic: boom\n" + `{"event":"sync.start"}` + "\n" + `{"event":"sync.done","n":2}`
	got := EventsIn(log, "sync.done")
	if len(got) != 2 || got[0]["n"] != 1.0 || got[1]["n"] != 2.0 {
		t.Errorf("EventsIn = %v", got)
	}
}

func TestThroughout_AsksUntilTheWindowEnds(t *testing.T) {
	n := 0
	start := time.Now()
	Throughout(t, 50*time.Millisecond, "nothing", func() (bool, string) {
		n++
		return true, ""
	})
	if took := time.Since(start); took < 50*time.Millisecond || n < 5 {
		t.Errorf("Throughout returned after %s and %d asks; want the whole window, asked often", took, n)
	}
}

// fatalRecorder is a test that records its Fatalf instead of failing.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs f against a recorder, as a test would, and returns what it
// failed with ("" if it did not).
func fatalOf(t *testing.T, f func(testing.TB)) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msg
}

func TestWaitFor_FailureSaysWhatWasAwaitedAndWhatWasLastSeen(t *testing.T) {
	n := 0
	msg := fatalOf(t, func(tb testing.TB) {
		WaitFor(tb, 20*time.Millisecond, "the answer", func() (bool, string) {
			n++
			return false, fmt.Sprintf("%d wrong answers", n)
		})
	})
	if want := fmt.Sprintf("the answer: not true within 20ms (last observed: %d wrong answers)", n); msg != want {
		t.Errorf("WaitFor failed with %q, want %q", msg, want)
	}
}

func TestThroughout_FailsAtTheFirstObservationThatBreaksIt(t *testing.T) {
	n := 0
	msg := fatalOf(t, func(tb testing.TB) {
		Throughout(tb, 10*time.Second, "no cycle", func() (bool, string) {
			n++
			return n < 3, "a cycle started"
		})
	})
	if msg != "no cycle: broken within 10s: a cycle started" || n != 3 {
		t.Errorf("Throughout failed with %q after %d asks", msg, n)
	}
}

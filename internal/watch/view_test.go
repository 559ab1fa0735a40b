package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/rs/zerolog"
)

// answer is one scripted reply of a fake fetch: an index, or an error.
type answer struct {
	index uint64
	err   error
}

// recorder is what a test reads back: the queries made, the answers that
// were news, the waits between calls, and the log.
type recorder struct {
	queries []Query
	news    []uint64
	sleeps  []time.Duration
	log     bytes.Buffer
}

// options are a test's Options: a backoff of 1, 2, 4 ms, and a Sleep that
// records and returns at once, so nothing waits on the clock.
func (r *recorder) options() Options {
	return Options{
		Name:    "test",
		Wait:    16 * time.Second,
		Backoff: backoff.Exponential(time.Millisecond, 4*time.Millisecond, backoff.NoJitter),
		Logger:  zerolog.New(&r.log),
		Sleep: func(ctx context.Context, d time.Duration) bool {
			r.sleeps = append(r.sleeps, d)
			return ctx.Err() == nil
		},
	}
}

// events returns the logged events named name.
func (r *recorder) events(t *testing.T, name string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.log.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e["event"] == name {
			out = append(out, e)
		}
	}
	return out
}

// run runs a view over script, ending once the script is spent.
func (r *recorder) run(opts Options, script []answer) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := NewView(opts)
	Run(ctx, v, func(ctx context.Context, q Query) (uint64, uint64, error) {
		r.queries = append(r.queries, q)
		if len(script) == 0 {
			cancel()
			return 0, 0, ctx.Err()
		}
		a := script[0]
		script = script[1:]
		return a.index, a.index, a.err
	}, func(got uint64, _ Query) { r.news = append(r.news, got) })
}

func indexes(qs []Query) []uint64 {
	out := make([]uint64, len(qs))
	for i, q := range qs {
		out[i] = q.Index
	}
	return out
}

var errDown = errors.New("connection refused")

func TestRun_IndexHandling(t *testing.T) {
	for _, tc := range []struct {
		name       string
		startOver  bool
		script     []answer
		wantWaitOn []uint64 // the index of each query
		wantNews   []uint64
		wantSleeps []time.Duration
	}{
		{
			name:       "same index: no news, waits on it again",
			script:     []answer{{index: 5}, {index: 5}, {index: 7}},
			wantWaitOn: []uint64{0, 5, 5, 7},
			wantNews:   []uint64{5, 7},
		},
		{
			name:       "index went backwards: news, and starts over from 0",
			script:     []answer{{index: 10}, {index: 4}, {index: 6}},
			wantWaitOn: []uint64{0, 10, 0, 6},
			wantNews:   []uint64{10, 4, 6},
		},
		{
			name:       "index 0: starts over from 0",
			script:     []answer{{index: 10}, {index: 0}, {index: 3}},
			wantWaitOn: []uint64{0, 10, 0, 3},
			wantNews:   []uint64{10, 0, 3},
		},
		{
			name:       "error then recovery: backs off, keeps the index",
			script:     []answer{{index: 10}, {err: errDown}, {err: errDown}, {index: 12}},
			wantWaitOn: []uint64{0, 10, 10, 10, 12},
			wantNews:   []uint64{10, 12},
			wantSleeps: []time.Duration{time.Millisecond, 2 * time.Millisecond},
		},
		{
			name:       "error with StartOverOnError: the next query answers at once",
			startOver:  true,
			script:     []answer{{index: 10}, {err: errDown}, {index: 10}},
			wantWaitOn: []uint64{0, 10, 0, 10},
			wantNews:   []uint64{10, 10},
			wantSleeps: []time.Duration{time.Millisecond},
		},
		{
			name:       "a success resets the backoff",
			script:     []answer{{err: errDown}, {err: errDown}, {index: 2}, {err: errDown}, {index: 3}},
			wantWaitOn: []uint64{0, 0, 0, 2, 2, 3},
			wantNews:   []uint64{2, 3},
			wantSleeps: []time.Duration{time.Millisecond, 2 * time.Millisecond, time.Millisecond},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			opts := r.options()
			opts.StartOverOnError = tc.startOver
			r.run(opts, tc.script)
			if got := indexes(r.queries); !slices.Equal(got, tc.wantWaitOn) {
				t.Errorf("waited on %v, want %v", got, tc.wantWaitOn)
			}
			if !slices.Equal(r.news, tc.wantNews) {
				t.Errorf("news %v, want %v", r.news, tc.wantNews)
			}
			if !slices.Equal(r.sleeps, tc.wantSleeps) {
				t.Errorf("slept %v, want %v", r.sleeps, tc.wantSleeps)
			}
			for _, q := range r.queries {
				if wantWait := map[bool]time.Duration{true: opts.Wait}[q.Blocking()]; q.Wait != wantWait {
					t.Errorf("query at %d waits %s, want %s", q.Index, q.Wait, wantWait)
				}
			}
		})
	}
}

func TestRun_ReportsFailuresAndRecoveryOnce(t *testing.T) {
	var r recorder
	opts := r.options()
	failed := 0
	opts.Failed = func(error) { failed++ }
	r.run(opts, []answer{{index: 1}, {err: errDown}, {err: errDown}, {index: 2}, {index: 3}})
	errs := r.events(t, "watch.error")
	if len(errs) != 2 || failed != 2 {
		t.Fatalf("watch.error %v, Failed told %d times; want 2 of each", errs, failed)
	}
	for i, want := range []string{"1ms", "2ms"} {
		if e := errs[i]; e["watch"] != "test" || e["retry_in"] != want || e["error"] != errDown.Error() {
			t.Errorf("watch.error %d: %v", i, e)
		}
	}
	rec := r.events(t, "watch.recovered")
	if len(rec) != 1 || rec[0]["watch"] != "test" || rec[0]["failures"] != 2.0 {
		t.Errorf("watch.recovered %v, want one with failures 2", rec)
	}
}

func TestRun_PausesBetweenAnswers(t *testing.T) {
	var r recorder
	opts := r.options()
	opts.Pause = 250 * time.Millisecond
	r.run(opts, []answer{{index: 1}, {index: 2}})
	if want := []time.Duration{opts.Pause, opts.Pause}; !slices.Equal(r.sleeps, want) {
		t.Errorf("slept %v, want %v", r.sleeps, want)
	}
}

func TestRun_StopsWhenCancelled(t *testing.T) {
	var r recorder
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, NewView(r.options()), func(ctx context.Context, q Query) (int, uint64, error) {
			calls++
			cancel() // the owner stops while the query blocks
			<-ctx.Done()
			return 0, 0, ctx.Err()
		}, func(int, Query) { t.Error("news after cancel") })
	}()
	<-done
	if calls != 1 || len(r.sleeps) != 0 || r.log.Len() != 0 {
		t.Errorf("%d calls, slept %v, logged %q; want one call, no backoff, nothing logged", calls, r.sleeps, r.log.String())
	}
}

func TestRun_CallDeadline(t *testing.T) {
	var r recorder
	opts := r.options()
	opts.Timeout = 10 * time.Second
	v := NewView(opts)
	if q := v.Next(false); q.Timeout != opts.Timeout || q.Blocking() {
		t.Errorf("first query %+v: want an answer at once within %s", q, opts.Timeout)
	}
	v.Answered(v.Next(false), 7)
	want := opts.Wait + opts.Wait/16 + opts.Timeout
	if q := v.Next(false); q.Timeout != want || q.Index != 7 {
		t.Errorf("blocking query %+v: want index 7 within %s", q, want)
	}
	if q := v.Next(true); q.Timeout != opts.Timeout || q.Blocking() {
		t.Errorf("fresh query %+v: want an answer at once within %s", q, opts.Timeout)
	}

	// The deadline is on the call's context, and a call that runs past it
	// says so.
	var budget time.Duration
	_, _, err := Call(context.Background(), Query{Timeout: time.Millisecond}, func(ctx context.Context, q Query) (int, uint64, error) {
		dl, _ := ctx.Deadline()
		budget = time.Until(dl)
		<-ctx.Done()
		return 0, 0, ctx.Err()
	})
	if budget > time.Millisecond {
		t.Errorf("call budget %s, want at most 1ms", budget)
	}
	if err == nil || err.Error() != "no answer within 1ms: context deadline exceeded" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want no answer within 1ms", err)
	}
	// Without a Timeout the call has no deadline of its own.
	_, _, _ = Call(context.Background(), Query{}, func(ctx context.Context, q Query) (int, uint64, error) {
		if _, ok := ctx.Deadline(); ok {
			t.Error("a call without Timeout has a deadline")
		}
		return 0, 0, nil
	})
}

package watch

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// subscription is one scripted answer of a fake Subscribe: a stream of
// batches (closed after them unless open), or an error.
type subscription struct {
	batches []*api.Events
	open    bool
	err     error
}

// fakeStream follows a script of subscriptions and records what Follow
// asked: the index of each subscription, and the batches applied.
type fakeStream struct {
	script  []subscription
	from    []uint64
	applied []uint64
	last    uint64
	ctxs    []context.Context
	cancel  context.CancelFunc
	// renew, when set, is handed to Follow by Resume.
	renew chan struct{}
	// atSubscribe, when set, runs at each subscription.
	atSubscribe func(n int)
}

func (f *fakeStream) stream() Stream {
	return Stream{
		Resume: func(context.Context) (uint64, <-chan struct{}, error) { return f.last, f.renew, nil },
		Subscribe: func(ctx context.Context, index uint64) (<-chan *api.Events, error) {
			f.from = append(f.from, index)
			f.ctxs = append(f.ctxs, ctx)
			if f.atSubscribe != nil {
				f.atSubscribe(len(f.from))
			}
			if len(f.script) == 0 {
				f.cancel()
				return nil, errors.New("script spent")
			}
			s := f.script[0]
			f.script = f.script[1:]
			if s.err != nil {
				return nil, s.err
			}
			ch := make(chan *api.Events, len(s.batches))
			for _, b := range s.batches {
				ch <- b
			}
			if !s.open {
				close(ch)
			}
			return ch, nil
		},
		Apply: func(_ context.Context, b *api.Events) {
			f.applied = append(f.applied, b.Index)
			f.last = max(f.last, b.Index)
		},
	}
}

func (f *fakeStream) follow(opts Options) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.cancel = cancel
	Follow(ctx, opts, f.stream())
}

func TestFollow_ResubscribesFromTheLastIndexAfterFailures(t *testing.T) {
	var r recorder
	f := &fakeStream{script: []subscription{
		{batches: []*api.Events{{Index: 3}, {Index: 5}}}, // closed by the server
		{err: errDown}, // refused
		{batches: []*api.Events{{Index: 8}, {Err: errDown}}}, // ends with an error
	}}
	f.follow(r.options())
	if want := []uint64{0, 5, 5, 8}; !slices.Equal(f.from, want) {
		t.Errorf("subscribed from %v, want %v", f.from, want)
	}
	if want := []uint64{3, 5, 8}; !slices.Equal(f.applied, want) {
		t.Errorf("applied %v, want %v", f.applied, want)
	}
	// Closed, refused (2ms), then up again: the backoff starts over.
	if want := []time.Duration{time.Millisecond, 2 * time.Millisecond, time.Millisecond}; !slices.Equal(r.sleeps, want) {
		t.Errorf("slept %v, want %v", r.sleeps, want)
	}
	errs := r.events(t, "watch.error")
	if len(errs) != 3 || errs[0]["watch"] != "test" || errs[0]["error"] != "stream closed by the server" || errs[2]["error"] != errDown.Error() {
		t.Errorf("watch.error %v", errs)
	}
	if rec := r.events(t, "watch.recovered"); len(rec) != 1 || rec[0]["failures"] != 2.0 {
		t.Errorf("watch.recovered %v, want one after 2 failures", rec)
	}
}

func TestFollow_RenewKeepsTheOldStreamUntilTheNewIsUp(t *testing.T) {
	var r recorder
	f := &fakeStream{
		renew:  make(chan struct{}, 1),
		script: []subscription{{open: true}, {open: true}},
	}
	f.atSubscribe = func(n int) {
		switch n {
		case 1:
			f.renew <- struct{}{} // interest grew while the first is up
		case 2:
			if err := f.ctxs[0].Err(); err != nil {
				t.Errorf("the old stream ended (%v) before the new one was up", err)
			}
			f.renew <- struct{}{}
		case 3:
			if f.ctxs[0].Err() == nil {
				t.Error("the old stream still runs after the new one is up")
			}
		}
	}
	f.follow(r.options())
	if len(f.from) != 3 || len(r.sleeps) != 0 || r.log.Len() != 0 {
		t.Errorf("%d subscriptions, slept %v, logged %q; want 3, no backoff, nothing logged", len(f.from), r.sleeps, r.log.String())
	}
	for i, ctx := range f.ctxs {
		if ctx.Err() == nil {
			t.Errorf("stream %d still runs after Follow returned", i)
		}
	}
}

func TestFollow_LifetimeIsNoFailure(t *testing.T) {
	var r recorder
	opts := r.options()
	opts.Lifetime = time.Millisecond
	f := &fakeStream{script: []subscription{{open: true}}}
	f.follow(opts)
	if len(f.from) != 2 || len(r.sleeps) != 0 || r.log.Len() != 0 {
		t.Errorf("%d subscriptions, slept %v, logged %q; want a second one at once, nothing logged", len(f.from), r.sleeps, r.log.String())
	}
}

func TestFollow_ResumeFailureBacksOff(t *testing.T) {
	var r recorder
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	Follow(ctx, r.options(), Stream{
		Resume: func(context.Context) (uint64, <-chan struct{}, error) {
			if calls++; calls == 3 {
				cancel()
			}
			return 0, nil, errDown
		},
		Subscribe: func(context.Context, uint64) (<-chan *api.Events, error) {
			t.Fatal("subscribed after Resume failed")
			return nil, nil
		},
	})
	if want := []time.Duration{time.Millisecond, 2 * time.Millisecond}; !slices.Equal(r.sleeps, want) {
		t.Errorf("slept %v, want %v", r.sleeps, want)
	}
	if errs := r.events(t, "watch.error"); len(errs) != 2 {
		t.Errorf("watch.error %v, want 2 (none once cancelled)", errs)
	}
}

func TestFollow_SubscriptionDeadline(t *testing.T) {
	var r recorder
	opts := r.options()
	opts.Timeout = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var failed error
	opts.Failed = func(err error) { failed = err; cancel() }
	Follow(ctx, opts, Stream{
		Resume: func(context.Context) (uint64, <-chan struct{}, error) { return 0, nil, nil },
		Subscribe: func(ctx context.Context, _ uint64) (<-chan *api.Events, error) {
			<-ctx.Done() // a Nomad that accepts and never answers
			return nil, ctx.Err()
		},
	})
	if failed == nil || failed.Error() != "no answer within 1ms: context canceled" {
		t.Errorf("failure %v, want no answer within 1ms", failed)
	}
}

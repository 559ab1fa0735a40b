// Package deliver sends things to slow or failing HTTP endpoints (commit
// statuses, notifications) without ever making the caller wait: a bounded
// queue, one worker, retries with backoff, and a drop when the queue is
// full.
package deliver

import (
	"context"
	"time"

	"github.com/drover-dev/drover/internal/backoff"
)

// Results of one item, for counters.
const (
	Sent    = "sent"
	Failed  = "failed"
	Dropped = "dropped"
)

// Item is one delivery.
type Item struct {
	// Name says what is delivered, for the log: never a secret.
	Name string
	// Do makes one attempt; ctx carries the attempt's deadline.
	Do func(ctx context.Context) error
}

// Options tune a queue; the zero value is usable.
type Options struct {
	// Size is how many items may wait (default 100).
	Size int
	// Attempts is how often an item is tried before it is given up
	// (default 5).
	Attempts int
	// Timeout is the deadline of one attempt (default 10s).
	Timeout time.Duration
	// Backoff is the wait before attempt n+1 (default exponential from 1s
	// to 30s, with jitter).
	Backoff func(attempt int) time.Duration
	// Done is told each item's result (Sent, Failed or Dropped) and the
	// last error; it must not block.
	Done func(it Item, result string, err error)
}

// Queue delivers items in order, one at a time.
type Queue struct {
	ch   chan Item
	opts Options
	done chan struct{}
}

// Start runs a queue until ctx ends; items still waiting then are
// dropped.
func Start(ctx context.Context, o Options) *Queue {
	if o.Size <= 0 {
		o.Size = 100
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Backoff == nil {
		o.Backoff = backoff.Exponential(time.Second, 30*time.Second, nil)
	}
	if o.Done == nil {
		o.Done = func(Item, string, error) {}
	}
	q := &Queue{ch: make(chan Item, o.Size), opts: o, done: make(chan struct{})}
	go q.run(ctx)
	return q
}

// Push queues it, or drops it when the queue is full. It never blocks.
func (q *Queue) Push(it Item) bool {
	select {
	case q.ch <- it:
		return true
	default:
		q.opts.Done(it, Dropped, nil)
		return false
	}
}

// Done is closed once the queue has stopped.
func (q *Queue) Done() <-chan struct{} { return q.done }

func (q *Queue) run(ctx context.Context) {
	defer close(q.done)
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-q.ch:
			q.deliver(ctx, it)
		}
	}
}

func (q *Queue) deliver(ctx context.Context, it Item) {
	var err error
	for attempt := 1; attempt <= q.opts.Attempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, q.opts.Timeout)
		err = it.Do(actx)
		cancel()
		if err == nil {
			q.opts.Done(it, Sent, nil)
			return
		}
		if attempt == q.opts.Attempts {
			break
		}
		t := time.NewTimer(q.opts.Backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			q.opts.Done(it, Dropped, ctx.Err())
			return
		case <-t.C:
		}
	}
	q.opts.Done(it, Failed, err)
}

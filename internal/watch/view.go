package watch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Query is one call of a View: the index to wait past, 0 for an answer at
// once, how long the server may hold it, and the call's deadline.
type Query struct {
	Index   uint64
	Wait    time.Duration
	Timeout time.Duration
}

// Blocking reports whether the query waits for a change.
func (q Query) Blocking() bool { return q.Index != 0 }

// View is where a blocking query stands: the index to wait on next and the
// failures in a row. Run drives one; an owner whose loop does more between
// calls (cancelling a blocking query for a fresh read) drives it with
// Next, Answered and Failed. Not safe for concurrent use.
type View struct {
	opts    Options
	index   uint64
	retries retries
}

// NewView returns a view that waits on index 0 first: its first query
// answers at once.
func NewView(opts Options) *View {
	v := &View{opts: opts.withDefaults()}
	v.retries.opts = &v.opts
	return v
}

// Next is the query to send; fresh asks for an answer at once whatever
// the index.
func (v *View) Next(fresh bool) Query {
	q := Query{Timeout: v.opts.Timeout}
	if v.index == 0 || fresh {
		return q
	}
	q.Index, q.Wait = v.index, v.opts.Wait
	if q.Timeout > 0 {
		q.Timeout = Deadline(q.Wait, q.Timeout)
	}
	return q
}

// Context bounds ctx by q's deadline, if it has one.
func (q Query) Context(ctx context.Context) (context.Context, context.CancelFunc) {
	if q.Timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, q.Timeout)
}

// Answered records that q answered with index next, and reports whether
// the answer is news: the first answer, one after starting over, or an
// index that moved. The same index is no news (the wait ran out): the
// next query waits on it again. An index that went backwards, or 0, is a
// server that lost its state (restored, or a new dev agent): the next
// query starts over from 0 rather than wait on a future that never
// comes, and this answer is news.
func (v *View) Answered(q Query, next uint64) bool {
	v.retries.ok()
	switch {
	case next == 0 || next < q.Index:
		v.index = 0
		return true
	case next == q.Index:
		v.index = next
		return false
	default:
		v.index = next
		return true
	}
}

// Failed records that q failed with err, reports it, and returns the
// delay before the next query.
func (v *View) Failed(err error) time.Duration {
	if v.opts.StartOverOnError {
		v.index = 0
	}
	return v.retries.fail(err)
}

// Sleep waits d unless ctx ends first, and reports whether ctx is live.
func (v *View) Sleep(ctx context.Context, d time.Duration) bool { return v.opts.Sleep(ctx, d) }

// Pause is the view's least time between two calls.
func (v *View) Pause() time.Duration { return v.opts.Pause }

// Fetch makes one query: it answers once the data's index is past
// q.Index (at once when q.Index is 0) or after q.Wait, with the index of
// the answer. It must return when ctx ends.
type Fetch[T any] func(ctx context.Context, q Query) (T, uint64, error)

// Run queries until ctx ends and calls news with each answer that is news
// (see Answered), and the query it answered. Failures back off and are
// reported; ctx ending is not a failure.
func Run[T any](ctx context.Context, v *View, fetch Fetch[T], news func(T, Query)) {
	for ctx.Err() == nil {
		q := v.Next(false)
		got, next, err := Call(ctx, q, fetch)
		switch v.opts.afterCall(ctx, err, v.Failed) {
		case stop:
			return
		case retry:
			continue
		}
		if v.Answered(q, next) {
			news(got, q)
		}
		if p := v.Pause(); p > 0 && !v.Sleep(ctx, p) {
			return
		}
	}
}

// Call makes one query under its deadline; a call that ran out of time
// says so.
func Call[T any](ctx context.Context, q Query, fetch Fetch[T]) (T, uint64, error) {
	qctx, cancel := q.Context(ctx)
	defer cancel()
	got, next, err := fetch(qctx, q)
	if err != nil && errors.Is(qctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("no answer within %s: %w", q.Timeout, err)
	}
	return got, next, err
}

// Deadline is how long a blocking query with this wait may take: the
// wait, plus the sixteenth Consul and Nomad may stretch it by, plus
// timeout for the exchange itself.
func Deadline(wait, timeout time.Duration) time.Duration { return wait + wait/16 + timeout }

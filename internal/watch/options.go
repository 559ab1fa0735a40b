// Package watch holds the loops that follow Consul and Nomad: a blocking
// query on a wait index (View, Run) and Nomad's event stream (Follow).
// They own what every watch needs the same way, in the spirit of
// consul-template's watch/view.go: the index to wait on and when to start
// over, a deadline on every call, retries with exponential backoff, and
// one watch.error / watch.recovered event per watch, named by the
// watch=<name> field. What a watch does with its answers stays with its
// owner.
package watch

import (
	"context"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/internal/backoff"
	"github.com/rs/zerolog"
)

// Options configure a View or a Follow; the zero value of each field is a
// sensible default.
type Options struct {
	// Name is the watch's name in its events (watch=<name>).
	Name string
	// Wait is how long the server may hold a blocking query (View only);
	// 0 sends none (the server's default).
	Wait time.Duration
	// Timeout bounds a call that answers at once: a query at index 0, or
	// the subscription of a stream. A blocking query gets Wait, plus
	// Wait/16 (the jitter Consul and Nomad add to it), plus Timeout. 0 puts
	// no deadline on the call: the caller's context and client bound it.
	Timeout time.Duration
	// Pause is the least time between two calls after a success, so a
	// burst of changes costs one call.
	Pause time.Duration
	// Backoff is the delay after the n-th consecutive failure; default
	// backoff.Exponential(1s, 1m).
	Backoff func(attempt int) time.Duration
	// StartOverOnError waits on index 0 after a failure (View only): the
	// index may belong to a server that is gone.
	StartOverOnError bool
	// Failed is told each failure before the backoff, for owners that
	// show it (a stale view to drop, watches to wake).
	Failed func(err error)
	// Lifetime ends a stream after this long without counting a failure,
	// so the owner resumes it afresh (Follow only); 0 follows it until it
	// fails.
	Lifetime time.Duration
	// Logger gets watch.error and watch.recovered when Emitter is nil.
	// The zero Logger writes nothing: for owners that report failures
	// their own way.
	Logger zerolog.Logger
	// Emitter writes watch.error and watch.recovered to the log and the
	// bus (default: to Logger only).
	Emitter *events.Emitter
	// Sleep waits between calls and reports whether ctx is still live;
	// default backoff.Sleep. Tests inject one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) bool
}

func (o Options) withDefaults() Options {
	if o.Backoff == nil {
		o.Backoff = backoff.Exponential(time.Second, time.Minute, nil)
	}
	if o.Sleep == nil {
		o.Sleep = backoff.Sleep
	}
	if o.Emitter == nil {
		o.Emitter = events.NewEmitter(o.Logger, nil)
	}
	return o
}

// step is what a watch loop does after a call.
type step int

const (
	proceed step = iota // the call succeeded
	retry               // the call failed and the back-off is over
	stop                // ctx ended, during the call or the back-off
)

// afterCall is the step after a call that returned err. ctx ending is not
// a failure but the end; a failure is reported through fail, which
// returns the delay, and backed off from.
func (o *Options) afterCall(ctx context.Context, err error, fail func(error) time.Duration) step {
	switch {
	case ctx.Err() != nil:
		return stop
	case err == nil:
		return proceed
	case !o.Sleep(ctx, fail(err)):
		return stop
	}
	return retry
}

// retries counts a watch's consecutive failures and reports them.
type retries struct {
	opts     *Options
	failures int
}

// fail records a failure, reports it and returns the delay before the
// next call.
func (r *retries) fail(err error) time.Duration {
	r.failures++
	d := r.opts.Backoff(r.failures)
	if r.opts.Failed != nil {
		r.opts.Failed(err)
	}
	r.opts.Emitter.Emit(events.WatchError{Watch: r.opts.Name, Error: err.Error(), RetryIn: d.Round(time.Millisecond)},
		"watch failed; retrying")
	return d
}

// ok records a success, reporting a recovery after failures.
func (r *retries) ok() {
	if r.failures > 0 {
		r.opts.Emitter.Emit(events.WatchRecovered{Watch: r.opts.Name, Failures: r.failures}, "watch answering again")
	}
	r.failures = 0
}

package watch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Stream is what Follow needs of one owner of Nomad's event stream.
type Stream struct {
	// Resume runs before each subscription and returns the index to
	// subscribe from: the last one the owner was delivered, or that of a
	// list it read to start over. renew, when it yields, makes Follow
	// subscribe again while this stream runs on until the next is up (the
	// owner's interest grew); nil never does. An error is a failure.
	Resume func(ctx context.Context) (index uint64, renew <-chan struct{}, err error)
	// Subscribe opens the stream from index; it returns once Nomad has
	// answered. The channel closes when ctx ends or after a batch with
	// Err.
	Subscribe func(ctx context.Context, index uint64) (<-chan *api.Events, error)
	// Up runs once a subscription has answered.
	Up func()
	// Apply takes one batch; ctx is its stream's, ended once a newer
	// stream is up or the stream ends.
	Apply func(ctx context.Context, batch *api.Events)
}

// Follow subscribes to a stream and applies its batches until ctx ends:
// after a stream fails (its subscription, its Resume, or the stream
// itself) it backs off and resumes. Every goroutine it starts has ended
// when it returns.
func Follow(ctx context.Context, opts Options, s Stream) {
	opts = opts.withDefaults()
	r := retries{opts: &opts}
	var running sync.WaitGroup
	defer running.Wait()
	stopOld := func() {}
	defer func() { stopOld() }()
	for {
		if opts.Pause > 0 && !opts.Sleep(ctx, opts.Pause) {
			return
		}
		sctx, events, renew, err := subscribe(ctx, opts, s)
		switch opts.afterCall(ctx, err, r.fail) {
		case stop:
			return
		case retry:
			continue
		}
		r.ok()
		// The new stream starts where the old one left off: the old one
		// can go now that the new one is up.
		stopOld()
		stopOld = sctx.cancel
		ended := make(chan error, 1)
		running.Go(func() { ended <- apply(sctx, events, s.Apply) })
		if s.Up != nil {
			s.Up()
		}
		select {
		case <-ctx.Done():
			return
		case <-renew:
		case err := <-ended:
			if ctx.Err() != nil {
				return
			}
			if errors.Is(sctx.Err(), context.DeadlineExceeded) {
				continue // its Lifetime is over: resume afresh
			}
			if !opts.Sleep(ctx, r.fail(err)) {
				return
			}
		}
	}
}

// streamCtx is one stream's context.
type streamCtx struct {
	context.Context
	cancel context.CancelFunc
}

// subscribe resumes and subscribes under the subscription's deadline.
func subscribe(ctx context.Context, opts Options, s Stream) (streamCtx, <-chan *api.Events, <-chan struct{}, error) {
	index, renew, err := s.Resume(ctx)
	if err != nil {
		return streamCtx{}, nil, nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	if opts.Lifetime > 0 {
		sctx, cancel = context.WithTimeout(ctx, opts.Lifetime)
	}
	// The subscription answers at once; a Nomad that does not is down.
	var timer *time.Timer
	if opts.Timeout > 0 {
		timer = time.AfterFunc(opts.Timeout, cancel)
	}
	events, err := s.Subscribe(sctx, index)
	if timer != nil && !timer.Stop() && err != nil {
		err = fmt.Errorf("no answer within %s: %w", opts.Timeout, err)
	}
	if err != nil {
		cancel()
		return streamCtx{}, nil, nil, err
	}
	return streamCtx{sctx, cancel}, events, renew, nil
}

// apply applies a stream's batches until it ends, returning why.
func apply(ctx context.Context, events <-chan *api.Events, take func(context.Context, *api.Events)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case batch, ok := <-events:
			if !ok {
				return errors.New("stream closed by the server")
			}
			if batch.Err != nil {
				return batch.Err
			}
			take(ctx, batch)
		}
	}
}

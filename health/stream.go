package health

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/drover-dev/drover/internal/watch"
	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// jobFeed is what Nomad shows of one watched job; guarded by Watcher.mu.
type jobFeed struct {
	watches int
	// services counts the Consul services of its watches' targets.
	services map[string]int
	allocs   map[string]*api.AllocationListStub
	deps     map[string]*api.Deployment
	// asOf is when the last read that answered was sent; zero before one.
	asOf time.Time
	// err is why the newest read (or the stream) failed; nil after a read
	// answered.
	err error
	// need is the newest time a watch needs the job's data to reach;
	// reading, that a read is in flight; again, that the job must be read
	// once more when it is done (an event the watcher cannot place came
	// meanwhile).
	need    time.Time
	reading bool
	again   bool
	// subscribed is whether a stream up asks for the job's events; stale,
	// that the stream dropped since the job was read, so it must be read
	// once a stream is up again.
	subscribed, stale bool
	// failures counts the reads failed in a row; a watch's need does not
	// read again before retryAt.
	failures int
	retryAt  time.Time
	// changed is closed, and replaced, on news of this job.
	changed chan struct{}
}

func newJobFeed() *jobFeed {
	return &jobFeed{services: map[string]int{}, allocs: map[string]*api.AllocationListStub{}, deps: map[string]*api.Deployment{}, changed: make(chan struct{})}
}

// wake wakes the job's watches. Needs Watcher.mu held.
func (f *jobFeed) wake() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (t Target) key() jobs.Key { return jobs.Key{Namespace: t.Namespace, ID: t.JobID} }

// answered reports whether the job has been read or failed.
func (f *jobFeed) answered() bool { return f != nil && (!f.asOf.IsZero() || f.err != nil) }

func (f *jobFeed) allocList() []*api.AllocationListStub {
	if f == nil {
		return nil
	}
	return slices.SortedFunc(maps.Values(f.allocs), func(a, b *api.AllocationListStub) int { return cmp.Compare(a.CreateIndex, b.CreateIndex) })
}

func (f *jobFeed) deploymentList() []*api.Deployment {
	if f == nil {
		return nil
	}
	return slices.SortedFunc(maps.Values(f.deps), func(a, b *api.Deployment) int { return cmp.Compare(a.CreateIndex, b.CreateIndex) })
}

// merge takes a read made at index: it is the whole job as of index, so
// what it lacks is gone unless an event newer than the read brought it.
func merge[T any](have map[string]T, read []T, index uint64, id func(T) string, modified func(T) uint64) {
	fresh := make(map[string]bool, len(read))
	for _, o := range read {
		fresh[id(o)] = true
		if old, ok := have[id(o)]; !ok || modified(o) >= modified(old) {
			have[id(o)] = o
		}
	}
	for k, o := range have {
		if !fresh[k] && modified(o) <= index {
			delete(have, k)
		}
	}
}

// stream runs the Nomad event stream of the watched jobs until ctx ends:
// it subscribes, reads the jobs the subscription added (every job after a
// failure), and subscribes again when jobs are added or the stream drops.
// A new subscription starts from the last index the old one delivered,
// which runs on until the new one is up, so the jobs already watched miss
// nothing.
func (w *Watcher) stream(ctx context.Context) {
	var ids []string
	watch.Follow(ctx, watch.Options{
		Name: "events", Timeout: w.opts.CallTimeout, Backoff: w.opts.Retry,
		// Watches starting together make one subscription.
		Pause: w.opts.Pause,
		// Whatever Nomad resumes from, the gap cannot be told: every job
		// is read again once the next stream is up.
		Failed: func(err error) { w.streamFailed(ctx, err) },
	}, watch.Stream{
		Resume: func(context.Context) (uint64, <-chan struct{}, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			v := &w.view
			// This subscription asks for every job watched now.
			select {
			case <-v.grown:
			default:
			}
			ids = ids[:0]
			for k := range v.jobs {
				ids = append(ids, k.ID)
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			return v.index, v.grown, nil
		},
		Subscribe: func(ctx context.Context, index uint64) (<-chan *api.Events, error) {
			return w.nomad.Events(ctx, ids, index)
		},
		Up: func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			for k, jf := range w.view.jobs {
				if !jf.subscribed || jf.stale {
					jf.subscribed, jf.stale = true, false
					w.readLocked(k, jf)
				}
			}
		},
		Apply: w.apply,
	})
}

// streamFailed marks every watched job to be read once a stream is up
// again. A job never read is unreachable until then; one read before
// keeps what its reads say, as those do not need the stream: a watch that
// needs newer data reads it.
func (w *Watcher) streamFailed(ctx context.Context, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	for _, jf := range w.view.jobs {
		jf.stale = true
		if jf.asOf.IsZero() {
			jf.err = fmt.Errorf("nomad event stream: %w", err)
		}
	}
	w.wakeAllLocked()
}

// apply takes one batch of events.
func (w *Watcher) apply(ctx context.Context, batch *api.Events) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Err() != nil {
		// Stopped: the view may belong to the feeds of a newer watch.
		return
	}
	v := &w.view
	v.index = max(v.index, batch.Index)
	for i := range batch.Events {
		e := &batch.Events[i]
		switch e.Topic {
		case api.TopicAllocation:
			stub, deployment, err := allocOf(e)
			if err != nil || stub == nil {
				continue
			}
			k := jobs.Key{Namespace: stub.Namespace, ID: stub.JobID}
			jf := v.jobs[k]
			if jf == nil {
				continue
			}
			old, known := jf.allocs[stub.ID]
			switch {
			case known && old.ModifyIndex >= stub.ModifyIndex:
			case known:
				// The event's allocation carries no job; its version
				// does not change.
				stub.JobType, stub.JobVersion = old.JobType, old.JobVersion
				jf.allocs[stub.ID] = stub
				jf.wake()
			default:
				if d := jf.deps[deployment]; d != nil {
					stub.JobVersion = d.JobVersion
					jf.allocs[stub.ID] = stub
					jf.wake()
				} else {
					// No version to judge it by: read the job.
					w.readLocked(k, jf)
				}
			}
		case api.TopicDeployment:
			d, err := deploymentOf(e)
			if err != nil || d == nil {
				continue
			}
			jf := v.jobs[jobs.Key{Namespace: d.Namespace, ID: d.JobID}]
			if jf == nil {
				continue
			}
			if old, ok := jf.deps[d.ID]; !ok || d.ModifyIndex > old.ModifyIndex {
				jf.deps[d.ID] = d
				jf.wake()
			}
		}
	}
}

// readLocked reads job k unless a read is in flight, in which case the
// job is read again once it is done. Needs w.mu held.
func (w *Watcher) readLocked(k jobs.Key, jf *jobFeed) {
	if jf.reading {
		jf.again = true
		return
	}
	jf.reading = true
	ctx := w.feedCtx
	w.feeds.Go(func() { w.read(ctx, k, jf) })
}

// read reads job k, bounded with the others by opts.Reads, and again
// while a watch needs data newer than the read sent.
func (w *Watcher) read(ctx context.Context, k jobs.Key, jf *jobFeed) {
	for {
		select {
		case w.reads <- struct{}{}:
		case <-ctx.Done():
			return
		}
		sent := w.opts.Now()
		rctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
		allocs, deps, index, err := w.nomad.JobStatus(rctx, k.Namespace, k.ID)
		if err != nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", w.opts.CallTimeout, err)
		}
		cancel()
		<-w.reads

		w.mu.Lock()
		if w.view.jobs[k] != jf {
			// Its last watch ended meanwhile.
			w.mu.Unlock()
			return
		}
		if err != nil {
			jf.err = err
			jf.failures++
			jf.retryAt = sent.Add(w.opts.Retry(jf.failures))
		} else {
			jf.err, jf.failures, jf.retryAt = nil, 0, time.Time{}
			if sent.After(jf.asOf) {
				jf.asOf = sent
			}
			merge(jf.allocs, allocs, index, func(a *api.AllocationListStub) string { return a.ID }, func(a *api.AllocationListStub) uint64 { return a.ModifyIndex })
			merge(jf.deps, deps, index, func(d *api.Deployment) string { return d.ID }, func(d *api.Deployment) uint64 { return d.ModifyIndex })
		}
		jf.wake()
		// A failed read is not repeated here: the watches' need asks
		// again after the backoff, so a failing Nomad is not read in a
		// loop.
		again := err == nil && (jf.asOf.Before(jf.need) || jf.again)
		jf.again = false
		if !again {
			jf.reading = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// wakeAllLocked wakes every watch, for news that concerns them all: a
// input failing or answering again. Needs w.mu held.
func (w *Watcher) wakeAllLocked() {
	for _, jf := range w.view.jobs {
		jf.wake()
	}
}

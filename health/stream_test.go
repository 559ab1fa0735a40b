package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

func TestStream_LateOrRepeatedEventNeverUndoesNewerData(t *testing.T) {
	f := newFakeCluster(Observation{})
	w := NewWatcher(t.Context(), f, nil, testWatcherOptions)
	w.feeds, w.feedCtx, w.view.jobs = &sync.WaitGroup{}, t.Context(), map[jobs.Key]*jobFeed{}
	jf := newJobFeed()
	jf.allocs["a1"] = &api.AllocationListStub{ID: "a1", JobID: "web", Namespace: "default", JobVersion: 3, ClientStatus: "running", ModifyIndex: 10}
	jf.deps["d1"] = &api.Deployment{ID: "d1", JobID: "web", Namespace: "default", JobVersion: 3, Status: "running", ModifyIndex: 10}
	w.view.jobs[jobs.Key{Namespace: "default", ID: "web"}] = jf
	w.answered = make(chan struct{})

	alloc := func(status string, index uint64) api.Event {
		return event(api.TopicAllocation, "Allocation", &api.Allocation{ID: "a1", JobID: "web", Namespace: "default", ClientStatus: status, ModifyIndex: index})
	}
	dep := func(status string, index uint64) api.Event {
		return event(api.TopicDeployment, "Deployment", &api.Deployment{ID: "d1", JobID: "web", Namespace: "default", JobVersion: 3, Status: status, ModifyIndex: index})
	}
	// Older than what is held, then the same again: both ignored.
	w.apply(t.Context(), &api.Events{Index: 9, Events: []api.Event{alloc("pending", 9), dep("failed", 9)}})
	w.apply(t.Context(), &api.Events{Index: 10, Events: []api.Event{alloc("failed", 10), dep("failed", 10)}})
	if a, d := jf.allocs["a1"], jf.deps["d1"]; a.ClientStatus != "running" || d.Status != "running" {
		t.Fatalf("after late events: alloc %s, deployment %s; want both still running", a.ClientStatus, d.Status)
	}
	// Newer: taken, keeping the version the event does not carry.
	w.apply(t.Context(), &api.Events{Index: 12, Events: []api.Event{alloc("complete", 12), dep("successful", 11)}})
	if a, d := jf.allocs["a1"], jf.deps["d1"]; a.ClientStatus != "complete" || a.JobVersion != 3 || d.Status != "successful" {
		t.Fatalf("after newer events: alloc %s (version %d), deployment %s; want complete (3), successful", a.ClientStatus, a.JobVersion, d.Status)
	}
	if w.view.index != 12 {
		t.Errorf("stream index = %d, want 12", w.view.index)
	}
	// Another job's events are not kept.
	w.apply(t.Context(), &api.Events{Index: 13, Events: []api.Event{event(api.TopicDeployment, "Deployment", &api.Deployment{ID: "d9", JobID: "other", Namespace: "default"})}})
	if len(w.view.jobs) != 1 || len(jf.deps) != 1 {
		t.Errorf("an unwatched job's event was kept: %d jobs, %d deployments", len(w.view.jobs), len(jf.deps))
	}
	// An allocation the watcher cannot place by version makes it read
	// the job instead of guessing.
	w.apply(t.Context(), &api.Events{Index: 14, Events: []api.Event{event(api.TopicAllocation, "Allocation", &api.Allocation{ID: "a2", JobID: "web", Namespace: "default", DeploymentID: "unknown", ModifyIndex: 14})}})
	// The read may be done by now, so count reads rather than look for
	// one in flight.
	w.feeds.Wait()
	if reads := len(f.queries("status")); reads != 1 || jf.allocs["a2"] != nil {
		t.Errorf("unplaceable allocation: %d reads, stored %v; want one read and nothing stored", reads, jf.allocs["a2"] != nil)
	}
}

func TestStream_DroppedStreamResumesFromTheLastIndexAndReadsEveryJob(t *testing.T) {
	f := newFakeCluster(captured(t, "healthy"))
	w := NewWatcher(t.Context(), f, f, testWatcherOptions)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := startWatch(ctx, w, helloTarget("ok", 0), Policy{MinHealthy: time.Hour, Deadline: time.Hour}, nil)
	testutil.WaitFor(t, 10*time.Second, "a stream and a read", func() (bool, string) {
		return f.openStreams() == 1 && len(f.queries("status")) == 1, fmt.Sprintf("%d streams, status reads %v", f.openStreams(), f.queries("status"))
	})
	f.set(func(*fakeCluster) {}) // a batch at index 2
	testutil.WaitFor(t, 10*time.Second, "the batch applied", func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.view.index == 2, fmt.Sprintf("index %d", w.view.index)
	})

	f.mu.Lock()
	f.streams[0].ch <- &api.Events{Err: errors.New("connection reset")}
	f.mu.Unlock()
	testutil.WaitFor(t, 10*time.Second, "a new stream and a read again", func() (bool, string) {
		return len(f.queries("events")) == 2 && len(f.queries("status")) == 2, fmt.Sprintf("event streams %v, status reads %v", f.queries("events"), f.queries("status"))
	})
	if q := f.queries("events")[1]; q.index != 2 {
		t.Errorf("resubscribed from index %d, want 2", q.index)
	}
	cancel()
	await(t, done, "the watch to end")
}

func TestStream_WatchesStartingTogetherMakeOneSubscription(t *testing.T) {
	ok, slow := captured(t, "healthy"), captured(t, "deploying")
	f := newFakeCluster(Observation{Allocs: append(ok.Allocs, slow.Allocs...), Deployments: append(ok.Deployments, slow.Deployments...)})
	opts := testWatcherOptions
	opts.Pause = 100 * time.Millisecond
	w := NewWatcher(t.Context(), f, nil, opts)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := Policy{MinHealthy: time.Hour, Deadline: time.Hour}
	a := startWatch(ctx, w, Target{Namespace: "default", JobID: "ok"}, p, nil)
	testutil.WaitFor(t, 10*time.Second, "the first stream", func() (bool, string) {
		return f.openStreams() == 1 && len(f.queries("status")) == 1, fmt.Sprintf("%d streams, status reads %v", f.openStreams(), f.queries("status"))
	})
	f.set(func(*fakeCluster) {})
	testutil.WaitFor(t, 10*time.Second, "the batch applied", func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.view.index == 2, fmt.Sprintf("index %d", w.view.index)
	})

	b := startWatch(ctx, w, Target{Namespace: "default", JobID: "slow"}, p, nil)
	c := startWatch(ctx, w, Target{Namespace: "default", JobID: "slow"}, p, nil)
	testutil.WaitFor(t, 10*time.Second, "the second stream and the new job read", func() (bool, string) {
		return len(f.queries("events")) == 2 && len(f.queries("status")) == 2, fmt.Sprintf("event streams %v, status reads %v", f.queries("events"), f.queries("status"))
	})
	cancel()
	for _, d := range []<-chan watchResult{a, b, c} {
		await(t, d, "a watch to end")
	}
	if q := f.queries("events"); len(q) != 2 || q[1].index != 2 {
		t.Errorf("subscriptions = %+v, want 2, the second from index 2", q)
	}
	// The job already watched is not read again; the new one once for
	// both its watches.
	if n := len(f.queries("status")); n != 2 {
		t.Errorf("%d job reads, want 2", n)
	}
}

// openStreams counts the subscriptions the fake has handed out.
func (f *fakeCluster) openStreams() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams)
}

package deliver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type results struct {
	mu  sync.Mutex
	got []string
	ch  chan string
}

func newResults() *results { return &results{ch: make(chan string, 100)} }

func (r *results) done(it Item, result string, _ error) {
	r.mu.Lock()
	r.got = append(r.got, it.Name+":"+result)
	r.mu.Unlock()
	r.ch <- it.Name + ":" + result
}

func (r *results) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10s")
		return ""
	}
}

func noWait(int) time.Duration { return 0 }

func TestQueue_RetriesUntilSentThenGivesUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newResults()
	q := Start(ctx, Options{Attempts: 3, Backoff: noWait, Done: r.done})
	calls := 0
	q.Push(Item{Name: "flaky", Do: func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("500")
		}
		return nil
	}})
	if got := r.next(t); got != "flaky:sent" || calls != 3 {
		t.Fatalf("got %s after %d calls, want sent after 3", got, calls)
	}
	q.Push(Item{Name: "down", Do: func(context.Context) error { return errors.New("500") }})
	if got := r.next(t); got != "down:failed" {
		t.Fatalf("got %s, want down:failed", got)
	}
}

func TestQueue_FullQueueDropsWithoutBlocking(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newResults()
	q := Start(ctx, Options{Size: 1, Attempts: 1, Done: r.done})
	hang := make(chan struct{})
	started := make(chan struct{})
	q.Push(Item{Name: "hanging", Do: func(ctx context.Context) error { close(started); <-hang; return nil }})
	<-started
	q.Push(Item{Name: "waiting", Do: func(context.Context) error { return nil }})
	if q.Push(Item{Name: "extra", Do: func(context.Context) error { return nil }}) {
		t.Fatal("a push into a full queue was accepted")
	}
	if got := r.next(t); got != "extra:dropped" {
		t.Fatalf("got %s, want extra:dropped", got)
	}
	close(hang)
	if a, b := r.next(t), r.next(t); a != "hanging:sent" || b != "waiting:sent" {
		t.Fatalf("got %s, %s", a, b)
	}
}

func TestQueue_AttemptHasADeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newResults()
	q := Start(ctx, Options{Attempts: 2, Timeout: 50 * time.Millisecond, Backoff: noWait, Done: r.done})
	q.Push(Item{Name: "hang", Do: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
	if got := r.next(t); got != "hang:failed" {
		t.Fatalf("got %s, want hang:failed", got)
	}
}

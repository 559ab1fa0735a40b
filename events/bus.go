package events

import (
	"context"
	"encoding/json"
	"github.com/drover-dev/drover/api"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Entry is one emitted event as the bus keeps it: the typed value with
// its sequence number, time, level and log message.
type Entry struct {
	// Seq numbers entries from 1 in the order they were emitted.
	Seq     uint64
	Time    time.Time
	Level   zerolog.Level
	Message string
	// Event is the typed value: consumers switch on its type.
	Event Event
}

// Name is the event's name, "rollout.started".
func (e Entry) Name() string { return NameOf(e.Event) }

// MarshalJSON writes the entry as GET /v1/events has always shown it:
// "seq", "event", "level", "time", and "fields" holding the event's fields
// and its "message", exactly as the log line names them.
func (e Entry) MarshalJSON() ([]byte, error) {
	fields := map[string]any{"message": e.Message}
	for _, f := range FieldsOf(e.Event) {
		fields[f.Name] = f.Value
	}
	return json.Marshal(api.Event{Seq: e.Seq, Name: e.Name(), Level: e.Level.String(), Time: e.Time, Fields: fields})
}

// Bus keeps the last events and hands new ones to subscribers.
type Bus struct {
	size int

	mu   sync.Mutex
	ring []Entry
	next int
	seq  uint64
	subs map[*subscriber]struct{}
	// dropped counts events a slow subscriber missed.
	dropped atomic.Uint64
}

type subscriber struct {
	ch chan Entry
}

// NewBus keeps the last size events.
func NewBus(size int) *Bus {
	if size <= 0 {
		size = 500
	}
	return &Bus{size: size, subs: map[*subscriber]struct{}{}}
}

// publish keeps e and hands it to the subscribers; it never waits for one.
func (b *Bus) publish(e Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	if len(b.ring) < b.size {
		b.ring = append(b.ring, e)
	} else {
		b.ring[b.next] = e
		b.next = (b.next + 1) % b.size
	}
	for s := range b.subs {
		select {
		case s.ch <- e:
		default:
			// A slow reader loses events rather than slowing drover down.
			b.dropped.Add(1)
		}
	}
}

// Recent returns the kept events after seq (0: all), oldest first.
func (b *Bus) Recent(after uint64) []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Entry, 0, len(b.ring))
	for i := range b.ring {
		e := b.ring[(b.next+i)%len(b.ring)]
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

// Subscribe returns a feed of the events emitted from now on; it is closed
// when ctx ends. A subscriber that falls more than buffer events behind
// loses the newest ones (Dropped counts them): drover never waits for it.
func (b *Bus) Subscribe(ctx context.Context, buffer int) <-chan Entry {
	s := &subscriber{ch: make(chan Entry, buffer)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs, s)
		close(s.ch)
		b.mu.Unlock()
	}()
	return s.ch
}

// Dropped is how many events slow subscribers lost.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

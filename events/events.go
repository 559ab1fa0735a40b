// Package events keeps what drover logs as structured events: the recent
// ones for the status page and GET /v1/events, and a live feed for the
// page's Server-Sent Events and the notifiers. It is fed by the logger
// itself (a zerolog writer), so an event has exactly the name and fields
// the log line has, and no part of drover has to report twice.
package events

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one log line: "event", "level", "time", "message" and the
// line's own fields.
type Event struct {
	// Seq numbers events from 1 in the order they were logged.
	Seq    uint64         `json:"seq"`
	Name   string         `json:"event"`
	Level  string         `json:"level"`
	Time   time.Time      `json:"time"`
	Fields map[string]any `json:"fields"`
}

// Str returns a string field, "" when absent.
func (e Event) Str(name string) string {
	s, _ := e.Fields[name].(string)
	return s
}

// Bus keeps the last events and hands new ones to subscribers. It is an
// io.Writer for zerolog: each Write is one JSON log line.
type Bus struct {
	size int
	// minLevel drops lines below it: debug lines (a job in sync, every
	// cycle) would push everything else out.
	minLevel int

	mu   sync.Mutex
	ring []Event
	next int
	seq  uint64
	subs map[*subscriber]struct{}
	// dropped counts events a slow subscriber missed.
	dropped atomic.Uint64
}

type subscriber struct {
	ch chan Event
}

// levels orders zerolog's level names.
var levels = map[string]int{"trace": -1, "debug": 0, "info": 1, "warn": 2, "error": 3, "fatal": 4, "panic": 5}

// NewBus keeps the last size events of level info and above.
func NewBus(size int) *Bus {
	if size <= 0 {
		size = 500
	}
	return &Bus{size: size, minLevel: levels["info"], subs: map[*subscriber]struct{}{}}
}

// Write takes one JSON log line. Lines without an "event" field, or that
// are not JSON, are not events and are ignored; Write never fails, so the
// log itself is never held up.
func (b *Bus) Write(p []byte) (int, error) {
	var fields map[string]any
	if json.Unmarshal(p, &fields) != nil {
		return len(p), nil
	}
	name, _ := fields["event"].(string)
	level, _ := fields["level"].(string)
	if name == "" || levels[level] < b.minLevel {
		return len(p), nil
	}
	e := Event{Name: name, Level: level, Time: time.Now().UTC(), Fields: fields}
	if ts, ok := fields["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			e.Time = t.UTC()
		}
	}
	for _, k := range []string{"event", "level", "time"} {
		delete(fields, k)
	}
	b.mu.Lock()
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
	b.mu.Unlock()
	return len(p), nil
}

// Recent returns the kept events after seq (0: all), oldest first.
func (b *Bus) Recent(after uint64) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Event, 0, len(b.ring))
	for i := range b.ring {
		e := b.ring[(b.next+i)%len(b.ring)]
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

// Subscribe returns a feed of the events logged from now on; it is closed
// when ctx ends. A subscriber that falls more than buffer events behind
// loses the newest ones (Dropped counts them): drover never waits for it.
func (b *Bus) Subscribe(ctx context.Context, buffer int) <-chan Event {
	s := &subscriber{ch: make(chan Event, buffer)}
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

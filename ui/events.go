package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drover-dev/drover/events"
)

// eventView is one event as the page lists it.
type eventView struct {
	Seq                    uint64
	Time                   time.Time
	Level, Name, Message   string
	Job, Namespace, Commit string
	Fields                 []field
	Problems               []problem
}

type field struct{ Key, Value string }

// problem is one entry of a rollout.failed event's problems: a failing
// check and its output, a failed allocation and its task events.
type problem struct {
	Kind, Check, Alloc, Task, Status, Output string
	Events                                   []string
}

// recentEvents returns at most n of evs, newest first, that keep accepts
// (nil: all).
func recentEvents(evs []events.Entry, n int, keep func(events.Entry) bool) []eventView {
	out := make([]eventView, 0, min(n, len(evs)))
	for i := len(evs) - 1; i >= 0 && len(out) < n; i-- {
		if keep == nil || keep(evs[i]) {
			out = append(out, newEventView(evs[i]))
		}
	}
	return out
}

// newEventView lists the event's own fields after the job, namespace and
// commit it is about, which the page shows in their own columns.
func newEventView(e events.Entry) eventView {
	v := eventView{Seq: e.Seq, Time: e.Time, Level: e.Level.String(), Name: e.Name(), Message: e.Message}
	if about, ok := e.Event.(events.AboutJob); ok {
		job := about.About()
		v.Job, v.Namespace, v.Commit = job.Job, job.Namespace, job.Commit
	}
	fields := events.FieldsOf(e.Event)
	sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	for _, f := range fields {
		switch f.Name {
		case "job", "namespace", "problems":
			continue
		case "commit":
			// Events not about one job (a push, a sync) name a commit too.
			v.Commit = fieldValue(f.Value)
			continue
		}
		v.Fields = append(v.Fields, field{Key: f.Name, Value: fieldValue(f.Value)})
	}
	if failed, ok := e.Event.(events.RolloutFailed); ok {
		for _, p := range failed.Problems {
			v.Problems = append(v.Problems, problem{Kind: p.Kind, Check: p.Check, Alloc: p.Alloc, Task: p.Task,
				Status: p.Status, Output: p.Output, Events: p.Events})
		}
	}
	return v
}

// fieldValue shows a field's value as a person reads it: strings as they
// are, a list of strings one after the other, anything else as JSON. The
// template escapes it; JSON's own HTML escaping would only garble it.
func fieldValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []string:
		return strings.Join(v, "; ")
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	}
	return jsonText(v)
}

func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// EventStream serves GET /v1/events: the kept events after ?after=<seq> as
// a JSON array, or, to a client that accepts text/event-stream, the same
// events followed by every new one as Server-Sent Events, each with its
// seq as id so a reconnecting client (Last-Event-ID) misses nothing the
// bus still holds.
type EventStream struct {
	bus Events
	// slots caps the streams open at once: each holds a connection and a
	// goroutine for as long as the client stays.
	slots chan struct{}
	// stop ends every stream, so a server shutdown is not held up by
	// clients that never hang up.
	stop      chan struct{}
	stopOnce  sync.Once
	keepAlive time.Duration
}

// maxStreams is how many event streams are served at once.
const maxStreams = 32

// NewEventStream serves bus's events.
func NewEventStream(bus Events) *EventStream {
	return &EventStream{bus: bus, slots: make(chan struct{}, maxStreams), stop: make(chan struct{}), keepAlive: 15 * time.Second}
}

// Stop ends the streams being served and refuses new ones. Call it once,
// when the server shuts down; later calls do nothing.
func (s *EventStream) Stop() { s.stopOnce.Do(func() { close(s.stop) }) }

func (s *EventStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after, err := afterSeq(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !acceptsEventStream(r) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		evs := s.bus.Recent(after)
		_ = json.NewEncoder(w).Encode(evs)
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		w.Header().Set("Retry-After", "5")
		writeJSONError(w, http.StatusServiceUnavailable, "too many event streams open; retry shortly")
		return
	}
	s.stream(w, r, after)
}

func (s *EventStream) stream(w http.ResponseWriter, r *http.Request, after uint64) {
	rc := http.NewResponseController(w)
	// The server's write timeout is for answers, not for a stream that
	// lasts as long as the page is open.
	_ = rc.SetWriteDeadline(time.Time{})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Subscribe before reading the backlog, so nothing logged in between
	// is missed; seq drops what both hold.
	feed := s.bus.Subscribe(ctx, 256)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The browser waits this long before reconnecting.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	last := after
	send := func(e events.Entry) bool {
		if e.Seq <= last {
			return true
		}
		last = e.Seq
		data, err := json.Marshal(e)
		if err != nil {
			return true
		}
		_, err = fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.Seq, data)
		return err == nil
	}
	for _, e := range s.bus.Recent(after) {
		if !send(e) {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(s.keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case e, ok := <-feed:
			if !ok || !send(e) {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// afterSeq is the seq a client has seen: ?after, or on a reconnecting
// stream, Last-Event-ID.
func afterSeq(r *http.Request) (uint64, error) {
	s := r.URL.Query().Get("after")
	if s == "" {
		s = r.Header.Get("Last-Event-ID")
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("after %q: want an event seq number", s)
	}
	return n, nil
}

func acceptsEventStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
			return true
		}
	}
	return false
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

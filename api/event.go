package api

import "time"

// Event is one entry of GET /v1/events and of the page's live feed
// (Server-Sent Events): the typed event's name, level and time, and its
// fields named as its log line names them, "message" among them. The
// events package documents every name and field (docs/reference/events.md).
type Event struct {
	// Seq numbers events from 1 in the order they were emitted; ask for
	// the ones after a seq with ?after=.
	Seq    uint64         `json:"seq"`
	Name   string         `json:"event"`
	Level  string         `json:"level"`
	Time   time.Time      `json:"time"`
	Fields map[string]any `json:"fields"`
}

package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// Buffer is an io.Writer that is safe for concurrent use: an agent, a
// process's stdout and stderr, or a logger writes to it from its own
// goroutines while the test reads what was written so far.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines are the complete lines written so far, without their newlines; a
// line still being written is left out.
func (b *Buffer) Lines() []string {
	s := b.String()
	end := strings.LastIndexByte(s, '\n')
	if end < 0 {
		return nil
	}
	return strings.Split(s[:end], "\n")
}

// Events are the JSON log lines written so far whose "event" field is
// name, each as its fields.
func (b *Buffer) Events(name string) []map[string]any { return EventsIn(b.String(), name) }

// EventsIn are the JSON log lines of log whose "event" field is name, each
// as its fields. Lines that are not JSON (a panic, a partial last line)
// are skipped.
func EventsIn(log, name string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

package events

import (
	"time"

	"github.com/rs/zerolog"
)

// Emitter emits events: each is written to the log at its type's level
// and handed to the bus whatever the log's level, so what statuses,
// notifications and the page show never depends on --log-level.
type Emitter struct {
	log zerolog.Logger
	bus *Bus
}

// NewEmitter writes events to log and publishes them to bus (nil: none).
func NewEmitter(log zerolog.Logger, bus *Bus) *Emitter {
	return &Emitter{log: log, bus: bus}
}

// Emit writes e to the log with msg, the line a person reads, and
// publishes it. Debug events are only logged: one per job and cycle
// (job.in_sync) would push everything else out of the bus's ring. A nil
// Emitter emits nothing.
func (em *Emitter) Emit(e Event, msg string) {
	if em == nil {
		return
	}
	level := LevelOf(e)
	// WithLevel is nil below the logger's level: a quiet log costs no
	// field encoding.
	if line := em.log.WithLevel(level); line != nil {
		line = line.Str("event", NameOf(e))
		for _, f := range FieldsOf(e) {
			line = appendField(line, f)
		}
		line.Msg(msg)
	}
	if em.bus != nil && level >= zerolog.InfoLevel {
		em.bus.publish(Entry{Time: time.Now().UTC(), Level: level, Message: msg, Event: e})
	}
}

func appendField(line *zerolog.Event, f Field) *zerolog.Event {
	switch v := f.Value.(type) {
	case string:
		return line.Str(f.Name, v)
	case []string:
		return line.Strs(f.Name, v)
	case bool:
		return line.Bool(f.Name, v)
	case int:
		return line.Int(f.Name, v)
	case int64:
		return line.Int64(f.Name, v)
	case uint64:
		return line.Uint64(f.Name, v)
	case time.Time:
		return line.Time(f.Name, v)
	}
	return line.Interface(f.Name, f.Value)
}

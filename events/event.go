// Package events is drover's event model: one Go type per event (what
// happened, with its fields), an Emitter that writes each to the log and
// to the bus in one call, the Bus that keeps the recent ones for the
// status page and GET /v1/events and feeds the commit statuses and
// notifications, and the Registry of every event type the docs' event
// reference is generated from.
package events

import (
	"reflect"
	"strings"
	"time"
)

// Event is one typed event: a value of one of the struct types in the
// Registry, which names each and gives its level. Its exported fields,
// named by their json tags, are the fields of its log line and of its
// /v1/events entry. A type whose level depends on its fields says so in a
// Level method (LevelOf).
type Event any

// Subject is the job an event is about, named as every per-job log line
// names it. Events about a job embed it.
type Subject struct {
	Job       string `json:"job" doc:"the job's ID"`
	Namespace string `json:"namespace" doc:"the job's Nomad namespace"`
	Path      string `json:"path,omitempty" doc:"the job's file in git"`
	Commit    string `json:"commit,omitempty" doc:"the commit the event is about"`
	Version   uint64 `json:"version,omitempty" doc:"the job's version in Nomad"`
	Source    string `json:"source,omitempty" doc:"the git source the job comes from (--config)"`
}

// About is the job the event is about.
func (s Subject) About() Subject { return s }

// AboutJob is what every event about one job implements (by embedding
// Subject).
type AboutJob interface {
	Event
	About() Subject
}

// Field is one field of an event as the log writes it.
type Field struct {
	Name  string
	Value any
}

// FieldsOf returns e's fields in declaration order, embedded structs'
// fields in place, leaving out empty omitempty ones. Durations are given
// as text ("1m30s"), as the log has always written them.
func FieldsOf(e Event) []Field {
	var out []Field
	appendFields(&out, reflect.ValueOf(e))
	return out
}

func appendFields(out *[]Field, v reflect.Value) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			appendFields(out, fv)
			continue
		}
		name, omitEmpty, ok := jsonName(sf)
		if !ok || (omitEmpty && isEmpty(fv)) {
			continue
		}
		val := fv.Interface()
		if d, ok := val.(time.Duration); ok {
			val = d.String()
		}
		*out = append(*out, Field{Name: name, Value: val})
	}
}

func jsonName(sf reflect.StructField) (name string, omitEmpty, ok bool) {
	tag := sf.Tag.Get("json")
	if tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = sf.Name
	}
	return name, opts == "omitempty", true
}

func isEmpty(v reflect.Value) bool {
	if t, ok := v.Interface().(time.Time); ok {
		return t.IsZero()
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

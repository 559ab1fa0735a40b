package control

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is a recurring stretch of time: it opens at each activation of a
// cron schedule and stays open for a duration.
type Window struct {
	// Spec is the window as it was written, "CRON DURATION".
	Spec     string
	schedule cron.Schedule
	length   time.Duration
}

// ParseWindow reads "CRON DURATION": the last whitespace-separated token
// is a Go duration, the rest a robfig/cron standard spec (five fields or a
// descriptor such as @daily, optionally prefixed with CRON_TZ=Zone).
func ParseWindow(spec string) (Window, error) {
	spec = strings.TrimSpace(spec)
	i := strings.LastIndexAny(spec, " \t")
	if i < 0 {
		return Window{}, fmt.Errorf("window %q: want \"CRON DURATION\", e.g. \"CRON_TZ=Europe/Berlin 0 18 * * FRI 62h\"", spec)
	}
	expr, dur := strings.TrimSpace(spec[:i]), spec[i+1:]
	length, err := time.ParseDuration(dur)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: duration %q: %w", spec, dur, err)
	}
	if length <= 0 {
		return Window{}, fmt.Errorf("window %q: duration %q must be positive", spec, dur)
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: cron %q: %w", spec, expr, err)
	}
	return Window{Spec: spec, schedule: sched, length: length}, nil
}

// maxSteps bounds the walks over activations: a window longer than its
// period is always open, and its end is then "far away", not a hang.
const maxSteps = 10000

// maxChain bounds how many openings denyEnd chains.
const maxChain = 64

// openAt reports whether the window is open at t, that is whether it was
// activated in (t-length, t], and if so when that opening ends: the last
// such activation plus length.
func (w Window) openAt(t time.Time) (time.Time, bool) {
	var last time.Time
	for a, n := w.schedule.Next(t.Add(-w.length)), 0; !a.After(t) && n < maxSteps; a, n = w.schedule.Next(a), n+1 {
		if a.IsZero() {
			break
		}
		last = a
	}
	if last.IsZero() {
		return time.Time{}, false
	}
	return last.Add(w.length), true
}

// Windows are the deny and allow windows of an instance.
type Windows struct {
	Deny  []Window
	Allow []Window
}

// Empty reports whether no window is set.
func (ws Windows) Empty() bool { return len(ws.Deny) == 0 && len(ws.Allow) == 0 }

// Verdict is what the windows say of one moment.
type Verdict struct {
	// Held is why nothing new may be applied now, "" when it may.
	Held string
	// Until is when the hold ends: the end of the deny window (openings
	// that overlap or touch chained), or the next opening of an allow
	// window. Zero when not held, or when no end could be found.
	Until time.Time
	// Deny says a deny window holds (as opposed to being outside every
	// allow window).
	Deny bool
}

// At judges the moment now: inside a deny window, or outside every allow
// window (when there are some), nothing new is applied.
func (ws Windows) At(now time.Time) Verdict {
	if end, ok := denyEnd(ws.Deny, now); ok {
		return Verdict{Held: "deny window until " + stamp(end), Until: end, Deny: true}
	}
	if len(ws.Allow) == 0 {
		return Verdict{}
	}
	var next time.Time
	for _, w := range ws.Allow {
		if _, ok := w.openAt(now); ok {
			return Verdict{}
		}
		if n := w.schedule.Next(now); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	if next.IsZero() {
		return Verdict{Held: "outside allow windows, none opens again"}
	}
	// An allow window opening inside a deny window does not release the
	// hold: the deny window's end is the real one.
	if end, ok := denyEnd(ws.Deny, next); ok {
		next = end
	}
	return Verdict{Held: "outside allow windows until " + stamp(next), Until: next}
}

// denyEnd reports whether a deny window is open at now and when the
// freeze really ends: openings that overlap or touch are one freeze.
func denyEnd(deny []Window, now time.Time) (time.Time, bool) {
	end, open := now, false
	// Chained openings a year ahead are a freeze without an end in
	// sight: stop there rather than walk on.
	for n := 0; n < maxChain && end.Sub(now) < 366*24*time.Hour; n++ {
		moved := false
		for _, w := range deny {
			if e, ok := w.openAt(end); ok && e.After(end) {
				end, open, moved = e, true, true
			}
		}
		if !moved {
			break
		}
	}
	return end, open
}

// stamp formats a window's edge for people and logs.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

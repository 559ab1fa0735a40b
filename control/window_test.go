package control

import (
	"strings"
	"testing"
	"time"
)

func mustWindow(t *testing.T, spec string) Window {
	t.Helper()
	w, err := ParseWindow(spec)
	if err != nil {
		t.Fatalf("ParseWindow(%q): %v", spec, err)
	}
	return w
}

func TestParseWindow_ClearErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"62h", `want "CRON DURATION"`},
		{"0 18 * * FRI", `duration "FRI"`},
		{"0 18 * * FRI -1h", "must be positive"},
		{"0 18 * * XYZ 1h", `cron "0 18 * * XYZ"`},
		{"CRON_TZ=Mars/Olympus 0 18 * * FRI 1h", "Mars/Olympus"},
	} {
		_, err := ParseWindow(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseWindow(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestWindows_WeekendFreezeInBerlin(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Friday 18:00 Berlin to Monday 08:00 Berlin.
	ws := Windows{Deny: []Window{mustWindow(t, "CRON_TZ=Europe/Berlin 0 18 * * FRI 62h")}}
	end := time.Date(2026, 11, 30, 8, 0, 0, 0, berlin)
	for _, tc := range []struct {
		name string
		now  time.Time
		held bool
	}{
		{"friday before", time.Date(2026, 11, 27, 17, 59, 59, 0, berlin), false},
		{"friday at the start", time.Date(2026, 11, 27, 18, 0, 0, 0, berlin), true},
		{"saturday", time.Date(2026, 11, 28, 12, 0, 0, 0, berlin), true},
		{"monday just before the end", time.Date(2026, 11, 30, 7, 59, 59, 0, berlin), true},
		{"monday at the end", end, false},
		{"wednesday", time.Date(2026, 12, 2, 12, 0, 0, 0, berlin), false},
	} {
		v := ws.At(tc.now)
		if (v.Held != "") != tc.held {
			t.Errorf("%s: held %q, want held=%v", tc.name, v.Held, tc.held)
			continue
		}
		if tc.held {
			if !v.Until.Equal(end) || !v.Deny {
				t.Errorf("%s: until %s deny=%v, want %s", tc.name, v.Until, v.Deny, end)
			}
			if want := "deny window until " + end.UTC().Format(time.RFC3339); v.Held != want {
				t.Errorf("%s: held %q, want %q", tc.name, v.Held, want)
			}
		}
	}
}

func TestWindows_OverlappingOpeningsChain(t *testing.T) {
	utc := time.UTC
	// Opens every hour for 90 minutes: never closes between openings
	// within the day's range 10:00–12:00, so the end is the last one's.
	ws := Windows{Deny: []Window{
		mustWindow(t, "0 10-12 * * * 90m"),
		// Touches the first's end exactly (13:30): one freeze.
		mustWindow(t, "30 13 * * * 30m"),
	}}
	v := ws.At(time.Date(2026, 1, 5, 10, 15, 0, 0, utc))
	if want := time.Date(2026, 1, 5, 14, 0, 0, 0, utc); !v.Until.Equal(want) {
		t.Errorf("until %s, want %s", v.Until, want)
	}
}

func TestWindows_AllowOfficeHours(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	ws := Windows{Allow: []Window{mustWindow(t, "CRON_TZ=America/New_York 0 9 * * MON-FRI 8h")}}
	if v := ws.At(time.Date(2026, 3, 4, 10, 0, 0, 0, ny)); v.Held != "" {
		t.Errorf("wednesday 10:00 held: %q", v.Held)
	}
	v := ws.At(time.Date(2026, 3, 6, 17, 0, 0, 0, ny)) // friday 17:00: closed
	if want := time.Date(2026, 3, 9, 9, 0, 0, 0, ny); !v.Until.Equal(want) || v.Deny ||
		!strings.HasPrefix(v.Held, "outside allow windows until ") {
		t.Errorf("friday 17:00: %+v, want held until %s", v, want)
	}
	// A deny window over monday morning pushes the release to its end.
	ws.Deny = []Window{mustWindow(t, "CRON_TZ=America/New_York 0 8 9 3 * 3h")}
	v = ws.At(time.Date(2026, 3, 6, 17, 0, 0, 0, ny))
	if want := time.Date(2026, 3, 9, 11, 0, 0, 0, ny); !v.Until.Equal(want) {
		t.Errorf("with a deny window on monday: until %s, want %s", v.Until, want)
	}
}

func TestWindows_AlwaysOpenEndsAtTheHorizon(t *testing.T) {
	ws := Windows{Deny: []Window{mustWindow(t, "@hourly 2h")}}
	now := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	v := ws.At(now)
	if v.Held == "" || !v.Until.After(now.Add(60*time.Hour)) {
		t.Errorf("an always open window: %+v", v)
	}
}

func TestWindows_NoneHoldsNothing(t *testing.T) {
	if v := (Windows{}).At(time.Now()); v.Held != "" {
		t.Errorf("no windows held: %q", v.Held)
	}
}

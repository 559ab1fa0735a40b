package ui

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
)

// funcs are the templates' helpers. None returns template.HTML: every
// string the page shows is escaped by html/template.
var funcs = template.FuncMap{
	"short":       short,
	"ago":         ago,
	"stamp":       stamp,
	"statusClass": statusClass,
	"jobPath":     jobPath,
	"nomadJobURL": nomadJobURL,
	"millis":      func(ms int64) string { return (time.Duration(ms) * time.Millisecond).Round(time.Millisecond).String() },
	"until":       until,
	"diffClass":   diffClass,
	"levelClass":  levelClass,
	"deref":       func(t *time.Time) time.Time { return derefTime(t) },
	// verdictWord is a word of the schema (a class, a phase) as people
	// read it.
	"verdictWord": func(v any) string { return strings.ReplaceAll(fmt.Sprint(v), "_", " ") },
	"commitURL":   func(l repoLinks, sha string) string { return l.commit(sha) },
	"refURL":      func(l repoLinks, ref string) string { return l.ref(ref) },
	"repoURL":     func(l repoLinks) string { return l.repo() },
	"sha":         func(l repoLinks, sha string) commitRef { return commitRef{Links: l, SHA: sha} },
}

// short is a commit's short SHA.
func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// ago says how long before now t was, to the second, or "never".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + until(now, t)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func until(now, t time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// jobPath is the job page's path; both parts are escaped as path segments.
func jobPath(ns, name string) string {
	if ns == "" {
		ns = "default"
	}
	return "/jobs/" + url.PathEscape(ns) + "/" + url.PathEscape(name)
}

// nomadJobURL links the job in Nomad's web UI (jobs/<id>@<namespace>).
func nomadJobURL(base, ns, name string) string {
	if base == "" || name == "" {
		return ""
	}
	if ns == "" {
		ns = "default"
	}
	return strings.TrimSuffix(base, "/") + "/jobs/" + url.PathEscape(name+"@"+ns)
}

// diffClass colours a line of the plan's changes the way `nomad job plan`
// does: + added, - removed, +/- or ~ changed.
func diffClass(line string) string {
	s := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(s, "+/-"), strings.HasPrefix(s, "~"):
		return "d-chg"
	case strings.HasPrefix(s, "+"):
		return "d-add"
	case strings.HasPrefix(s, "-"):
		return "d-del"
	}
	return "d-ctx"
}

func levelClass(level string) string {
	switch level {
	case "error", "fatal", "panic":
		return "st-bad"
	case "warn":
		return "st-warn"
	}
	return "st-none"
}

// commitRef is a commit to show, linked when the repository is on a forge.
type commitRef struct {
	Links repoLinks
	SHA   string
}

package feedback

import (
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/notify"
)

// message is the notification an event calls for, if any.
func (f *Feedback) message(e events.Event) (notify.Message, bool) {
	m := notify.Message{
		Type: e.Name, Instance: f.opts.Instance, Job: e.Str("job"), Namespace: e.Str("namespace"),
		Commit: e.Str("commit"), Time: e.Time, Severity: "warning",
	}
	switch e.Name {
	case "rollout.failed":
		if e.Str("kind") == "rollback" {
			return m, false // rollback.failed says it
		}
		m.Title, m.Why, m.Severity = "Rollout failed", why(e), "error"
		switch to := e.Str("rollback_to"); {
		case to != "":
			m.Action = "Quarantined this spec; rolling back to the last good commit " + f.commitRef(to)
		case e.Str("rollback") != "":
			m.Action = "Quarantined this spec; no rollback: " + strings.TrimPrefix(e.Str("rollback"), "none: ")
		}
	case "rollback.applied":
		to := e.Str("to_commit")
		m.Commit, m.RolledBackTo = e.Str("from_commit"), to
		m.Title, m.Why = "Rolled back", e.Str("reason")
		m.Action = "Put the job back on its last good commit " + f.commitRef(to)
		if e.Str("applied_by") == "nomad" {
			m.Action += " (Nomad's auto_revert had already done it)"
		}
	case "rollback.failed":
		m.Commit, m.RolledBackTo = e.Str("from_commit"), e.Str("to_commit")
		m.Title, m.Why, m.Severity = "Rollback failed", firstNonEmpty(e.Str("reason"), e.Str("error")), "error"
		m.Action = "Could not put the job back on " + f.commitRef(e.Str("to_commit")) + "; " + e.Str("message")
	case "job.quarantined":
		m.Title, m.Action = "Spec quarantined", "This spec will not be applied again until git changes the job"
	case "job.drift":
		key := e.Str("namespace") + "/" + e.Str("job")
		changes := fmt.Sprint(e.Fields["changes"])
		if f.drift[key] == changes {
			return m, false
		}
		f.drift[key] = changes
		m.Title, m.Why = "Drift: the cluster differs from git", changeList(e)
		m.Action = "Registering git's spec over it"
		if f.opts.DryRun {
			m.Action = "Reported only (--dry-run)"
		}
	case "job.applied":
		// The drift, if any, is undone: the same drift again is news.
		delete(f.drift, e.Str("namespace")+"/"+e.Str("job"))
		return m, false
	case "job.conflict":
		m.Title, m.Why, m.Severity = "Register refused (check-index conflict)", e.Str("error"), "error"
		m.Action = "Nothing overwritten; the job is planned again on the next sync"
	case "sync.done":
		return f.syncMessage(e, m)
	case "leader.acquired":
		m.Title, m.Severity = "Leader elected", "info"
		m.Action = "Replica " + e.Str("id") + " now syncs and watches rollouts"
	case "leader.lost":
		if r := e.Str("reason"); r == "resigned" || r == "stopped" {
			// A clean handover: the next leader's leader.acquired says it.
			return m, false
		}
		m.Title, m.Why = "Leadership lost", e.Str("reason")
		m.Action = "Replica " + e.Str("id") + " stopped acting; another replica takes over"
	default:
		return m, false
	}
	m.CommitURL = f.opts.Repo.CommitURL(m.Commit)
	return m, true
}

// syncMessage notifies a sync failing for longer than FailingAfter, once,
// and its recovery.
func (f *Feedback) syncMessage(e events.Event, m notify.Message) (notify.Message, bool) {
	if e.Str("result") != "failed" {
		since, sent := f.failingSince, f.failingSent
		f.failingSince, f.failingSent = time.Time{}, false
		if !sent {
			return m, false
		}
		m.Title, m.Severity = "Syncing again", "info"
		m.Action = fmt.Sprintf("Syncs succeed again after failing for %s", e.Time.Sub(since).Round(time.Second))
		m.CommitURL = f.opts.Repo.CommitURL(m.Commit)
		return m, true
	}
	if f.failingSince.IsZero() {
		f.failingSince = e.Time
	}
	if f.failingSent || e.Time.Sub(f.failingSince) < f.opts.FailingAfter {
		return m, false
	}
	f.failingSent = true
	m.Title, m.Severity = "Sync failing", "error"
	m.Why = fmt.Sprintf("%s: %s", e.Str("step"), e.Str("error"))
	m.Action = fmt.Sprintf("Failing since %s; retrying (next in %s). Nothing is deployed until it recovers",
		f.failingSince.UTC().Format("15:04:05 MST"), e.Str("retry_in"))
	return m, true
}

func changeList(e events.Event) string {
	cs, _ := e.Fields["changes"].([]any)
	var out []string
	for i, c := range cs {
		if i == 5 {
			out = append(out, fmt.Sprintf("… %d more", len(cs)-5))
			break
		}
		out = append(out, fmt.Sprint(c))
	}
	return strings.Join(out, "; ")
}

// commitRef is a short SHA, linked when the repository is known.
func (f *Feedback) commitRef(commit string) string {
	if u := f.opts.Repo.CommitURL(commit); u != "" {
		return shortSHA(commit) + " (" + u + ")"
	}
	return shortSHA(commit)
}

package feedback

import (
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/notify"
)

// message is the notification an event calls for, if any.
func (f *Feedback) message(e events.Entry) (notify.Message, bool) {
	m := notify.Message{Type: e.Name(), Instance: f.opts.Instance, Time: e.Time, Severity: "warning"}
	if about, ok := e.Event.(events.AboutJob); ok {
		job := about.About()
		m.Job, m.Namespace, m.Commit = job.Job, job.Namespace, job.Commit
	}
	switch ev := e.Event.(type) {
	case events.RolloutFailed:
		if ev.Kind == "rollback" {
			return m, false // rollback.failed says it
		}
		m.Title, m.Why, m.Severity = "Rollout failed", why(ev), "error"
		switch {
		case ev.RollbackTo != "":
			m.Action = "Quarantined this spec; rolling back to the last good commit " + f.commitRef(ev.RollbackTo)
		case ev.Rollback != "":
			m.Action = "Quarantined this spec; no rollback: " + strings.TrimPrefix(ev.Rollback, "none: ")
		}
	case events.RollbackApplied:
		m.Commit, m.RolledBackTo = ev.FromCommit, ev.ToCommit
		m.Title, m.Why = "Rolled back", ev.Reason
		m.Action = "Put the job back on its last good commit " + f.commitRef(ev.ToCommit)
		if ev.AppliedBy == "nomad" {
			m.Action += " (Nomad's auto_revert had already done it)"
		}
	case events.RollbackFailed:
		m.Commit, m.RolledBackTo = ev.FromCommit, ev.ToCommit
		m.Title, m.Why, m.Severity = "Rollback failed", firstNonEmpty(ev.Reason, ev.Error), "error"
		m.Action = "Could not put the job back on " + f.commitRef(ev.ToCommit) + "; " + e.Message
	case events.JobQuarantined:
		m.Title, m.Action = "Spec quarantined", "This spec will not be applied again until git changes the job"
	case events.JobDrift:
		key := ev.Namespace + "/" + ev.Job
		changes := strings.Join(ev.Changes, "\x00")
		if f.drift[key] == changes {
			return m, false
		}
		f.drift[key] = changes
		m.Title, m.Why = "Drift: the cluster differs from git", changeList(ev.Changes)
		m.Action = "Registering git's spec over it"
		if f.opts.DryRun {
			m.Action = "Reported only (--dry-run)"
		}
	case events.JobApplied:
		// The drift, if any, is undone: the same drift again is news.
		delete(f.drift, ev.Namespace+"/"+ev.Job)
		return m, false
	case events.JobConflict:
		m.Title, m.Why, m.Severity = "Register refused (check-index conflict)", ev.Error, "error"
		m.Action = "Nothing overwritten; the job is planned again on the next sync"
	case events.SyncDone:
		m.Commit = ev.Commit
		return f.syncMessage(e.Time, ev, m)
	case events.LeaderAcquired:
		m.Title, m.Severity = "Leader elected", "info"
		m.Action = "Replica " + ev.ID + " now syncs and watches rollouts"
	case events.LeaderLost:
		if ev.Reason == "resigned" || ev.Reason == "stopped" {
			// A clean handover: the next leader's leader.acquired says it.
			return m, false
		}
		m.Title, m.Why = "Leadership lost", ev.Reason
		m.Action = "Replica " + ev.ID + " stopped acting; another replica takes over"
	default:
		return m, false
	}
	m.CommitURL = f.opts.Repo.CommitURL(m.Commit)
	return m, true
}

// syncMessage notifies a sync failing for longer than FailingAfter, once,
// and its recovery.
func (f *Feedback) syncMessage(at time.Time, ev events.SyncDone, m notify.Message) (notify.Message, bool) {
	if ev.Result != "failed" {
		since, sent := f.failingSince, f.failingSent
		f.failingSince, f.failingSent = time.Time{}, false
		if !sent {
			return m, false
		}
		m.Title, m.Severity = "Syncing again", "info"
		m.Action = fmt.Sprintf("Syncs succeed again after failing for %s", at.Sub(since).Round(time.Second))
		m.CommitURL = f.opts.Repo.CommitURL(m.Commit)
		return m, true
	}
	if f.failingSince.IsZero() {
		f.failingSince = at
	}
	if f.failingSent || at.Sub(f.failingSince) < f.opts.FailingAfter {
		return m, false
	}
	f.failingSent = true
	m.Title, m.Severity = "Sync failing", "error"
	m.Why = fmt.Sprintf("%s: %s", ev.Step, ev.Error)
	m.Action = fmt.Sprintf("Failing since %s; retrying (next in %s). Nothing is deployed until it recovers",
		f.failingSince.UTC().Format("15:04:05 MST"), ev.RetryIn)
	return m, true
}

func changeList(cs []string) string {
	var out []string
	for i, c := range cs {
		if i == 5 {
			out = append(out, fmt.Sprintf("… %d more", len(cs)-5))
			break
		}
		out = append(out, c)
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

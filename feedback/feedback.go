// Package feedback turns drover's events into what people see where they
// already look: a commit status per job on GitHub or GitLab, and
// notifications. It reads the event bus, off the sync path: a slow or
// failing receiver never delays a cycle or a rollback.
package feedback

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/forge"
	"github.com/drover-dev/drover/internal/deliver"
	"github.com/drover-dev/drover/notify"
	"github.com/rs/zerolog"
)

// DefaultFailingAfter is how long syncs must fail before it is notified.
const DefaultFailingAfter = 10 * time.Minute

// Options configure the feedback.
type Options struct {
	Instance string
	// PublicURL is where people reach drover's HTTP server; a status links
	// to <PublicURL>/jobs/<namespace>/<job>. "" for no link.
	PublicURL string
	// Repo is the followed repository, for commit links.
	Repo forge.Repo
	// Statuses receive a commit status per job and commit, each in the
	// repository of the source the job comes from: by source name, ""
	// for the source the flags make. A source without one sets none.
	Statuses map[string]forge.Forge
	// StatusQueue tunes the statuses' delivery queue.
	StatusQueue deliver.Options
	// Notifier, when set, is sent the notifications.
	Notifier *notify.Notifier
	// FailingAfter is how long syncs fail before that is notified
	// (default DefaultFailingAfter).
	FailingAfter time.Duration
	// DryRun says drover only reports, for the messages' "what drover did".
	DryRun bool
	Logger zerolog.Logger
}

// Feedback decides, event by event, which statuses and notifications to
// send. It is not safe for concurrent use: Run owns it.
type Feedback struct {
	opts Options
	// statuses is the last status sent per context (its commit, state and
	// description), so an event repeated every cycle (a job.error) is not
	// sent again; one entry per job keeps it bounded.
	statuses map[string]string
	// drift is the last drift notified per job.
	drift map[string]string
	// failingSince is when syncs started failing; zero when they succeed.
	failingSince time.Time
	failingSent  bool
}

// New returns a Feedback; Run starts it.
func New(o Options) *Feedback {
	if o.FailingAfter <= 0 {
		o.FailingAfter = DefaultFailingAfter
	}
	return &Feedback{opts: o, statuses: map[string]string{}, drift: map[string]string{}}
}

// Run reads feed until it closes, sending statuses and notifications from
// their own queues.
func (f *Feedback) Run(ctx context.Context, feed <-chan events.Event) {
	var statusQueue *deliver.Queue
	if len(f.opts.Statuses) > 0 {
		qo := f.opts.StatusQueue
		log := f.opts.Logger
		qo.Done = func(it deliver.Item, result string, err error) {
			switch result {
			case deliver.Failed:
				log.Warn().Str("event", "status.failed").Str("status", it.Name).Err(err).Msg("commit status not set; given up")
			case deliver.Dropped:
				log.Warn().Str("event", "status.dropped").Str("status", it.Name).Msg("commit status dropped: queue full or shutting down")
			}
		}
		statusQueue = deliver.Start(ctx, qo)
	}
	for e := range feed {
		statuses, messages := f.Handle(e)
		for _, s := range statuses {
			if statusQueue == nil {
				break
			}
			fg := f.opts.Statuses[e.Str("source")]
			statusQueue.Push(deliver.Item{Name: s.Context + " " + s.State + " " + shortSHA(s.Commit), Do: func(ctx context.Context) error {
				return fg.SetStatus(ctx, s)
			}})
		}
		for _, m := range messages {
			f.opts.Notifier.Send(m)
		}
	}
}

// Handle is what one event calls for.
func (f *Feedback) Handle(e events.Event) ([]forge.Status, []notify.Message) {
	var statuses []forge.Status
	if fg := f.opts.Statuses[e.Str("source")]; fg != nil {
		if s, ok := f.status(e, fg); ok {
			last := s.Commit + "\x00" + s.State + "\x00" + s.Description
			if f.statuses[s.Context] != last {
				f.statuses[s.Context] = last
				statuses = append(statuses, s)
			}
		}
	}
	var messages []notify.Message
	if f.opts.Notifier != nil {
		if m, ok := f.message(e); ok {
			messages = append(messages, m)
		}
	}
	return statuses, messages
}

// status is the commit status an event sets in fg, if any. Only a deploy's own
// rollout sets one: a rollback's rollout runs an older commit, whose status
// already says how it went. (rollout.baking does not say which kind it is,
// so it sets none.)
func (f *Feedback) status(e events.Event, fg forge.Forge) (forge.Status, bool) {
	job, commit := e.Str("job"), e.Str("commit")
	if job == "" || commit == "" {
		return forge.Status{}, false
	}
	deploy := e.Str("kind") == "" || e.Str("kind") == "deploy"
	s := forge.Status{Commit: commit, Context: f.statusContext(e), TargetURL: f.jobURL(e)}
	switch {
	case e.Name == "rollout.started" && deploy:
		s.State, s.Description = forge.Pending, "Deploying: registered, watching the rollout"
	case e.Name == "rollout.healthy" && deploy:
		s.State, s.Description = forge.Success, "Deployed: healthy through the bake window"
	case e.Name == "rollout.failed" && deploy:
		s.State, s.Description = forge.Failure, failureDescription(e)
	case e.Name == "rollout.unresolved" && deploy:
		s.State, s.Description = forge.Error, "No verdict: health could not be seen; "+e.Str("reason")
	case e.Name == "job.conflict":
		s.State, s.Description = forge.Error, "Register refused: the job changed in Nomad since it was planned"
	case e.Name == "job.error":
		s.State, s.Description = forge.Error, "Not deployed: "+firstNonEmpty(e.Str("error"), e.Str("message"))
	default:
		return forge.Status{}, false
	}
	s.Description = forge.Shorten(s.Description, fg.DescriptionLimit())
	return s, true
}

// failureDescription leads with what drover did, then the failing check
// and its output: the part the status's length limit may cut.
func failureDescription(e events.Event) string {
	did := "Rollout failed"
	if to := e.Str("rollback_to"); to != "" {
		did = "Rolled back to " + shortSHA(to)
	}
	return did + ": " + why(e)
}

// why is the failing check and its output, or the reason.
func why(e events.Event) string {
	problems, _ := e.Fields["problems"].([]any)
	for _, p := range problems {
		pm, _ := p.(map[string]any)
		if pm["kind"] != "check" {
			continue
		}
		out := strings.TrimSpace(fmt.Sprint(pm["output"]))
		if pm["output"] == nil {
			out = fmt.Sprint(pm["status"])
		}
		return fmt.Sprintf("check %s %s: %s", fmt.Sprint(pm["check"]), fmt.Sprint(pm["status"]), out)
	}
	return firstNonEmpty(e.Str("reason"), e.Str("error"), e.Str("message"))
}

func (f *Feedback) statusContext(e events.Event) string {
	ns := e.Str("namespace")
	if ns == "" || ns == "default" {
		return "drover/" + f.opts.Instance + "/" + e.Str("job")
	}
	return "drover/" + f.opts.Instance + "/" + ns + "/" + e.Str("job")
}

func (f *Feedback) jobURL(e events.Event) string {
	if f.opts.PublicURL == "" {
		return ""
	}
	ns := e.Str("namespace")
	if ns == "" {
		ns = "default"
	}
	return strings.TrimSuffix(f.opts.PublicURL, "/") + "/jobs/" + ns + "/" + e.Str("job")
}

func shortSHA(c string) string {
	if len(c) > 8 {
		return c[:8]
	}
	return c
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

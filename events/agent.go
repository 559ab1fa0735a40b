package events

import (
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/rs/zerolog"
)

// SyncStart: a sync cycle began.
type SyncStart struct {
	Reason string `json:"reason" doc:"what triggered it: interval, webhook, api, watch, rollback, ..."`
	Via    string `json:"via,omitempty" doc:"the replica a standby forwarded it from"`
}

// SyncDone: a sync cycle ended. Logged at error when it failed, at warn
// when some jobs failed.
type SyncDone struct {
	// Result is "failed" or "interrupted"; "" for a sync that ran.
	Result     string        `json:"result,omitempty" doc:"failed or interrupted; absent when the sync ran"`
	Step       string        `json:"step,omitempty" doc:"the step a failed sync failed in"`
	Kind       string        `json:"kind,omitempty" doc:"how the failure is retried: transient or stalled"`
	Error      string        `json:"error,omitempty" doc:"why it failed"`
	Commit     string        `json:"commit,omitempty" doc:"the commit synced"`
	Counts     *api.Counts   `json:"counts,omitempty" doc:"the jobs by class and outcome"`
	Errors     int           `json:"errors,omitempty" doc:"jobs that failed or conflicted"`
	DurationMS int64         `json:"duration_ms" doc:"how long it took"`
	RetryIn    time.Duration `json:"retry_in,omitempty" doc:"when a failed sync is tried again"`
}

// Level is error for a failed sync, warn when some jobs failed, info
// otherwise.
func (e SyncDone) Level() zerolog.Level {
	switch {
	case e.Result == "failed":
		return zerolog.ErrorLevel
	case e.Errors > 0:
		return zerolog.WarnLevel
	}
	return zerolog.InfoLevel
}

// SyncStalled: the sync cannot succeed until the configuration or the
// remote changes.
type SyncStalled struct {
	Step    string        `json:"step" doc:"the step that failed"`
	Reason  string        `json:"reason" doc:"why"`
	RetryIn time.Duration `json:"retry_in" doc:"when it is tried again anyway"`
}

// SyncHeld: nothing new is applied and nothing pruned this cycle.
type SyncHeld struct {
	Reason string    `json:"reason" doc:"what holds it"`
	Until  time.Time `json:"until,omitempty" doc:"when the hold ends"`
}

// ControlSuspended: a suspension was seen.
type ControlSuspended struct {
	Scope   string    `json:"scope" doc:"instance or a job"`
	By      string    `json:"by" doc:"who suspended"`
	At      time.Time `json:"at" doc:"when"`
	Reason  string    `json:"reason" doc:"why"`
	Already bool      `json:"already,omitempty" doc:"it was in place when the agent started"`
}

// ControlResumed: a suspension was lifted.
type ControlResumed struct {
	Scope       string `json:"scope" doc:"instance or a job"`
	SuspendedBy string `json:"suspended_by" doc:"who had suspended"`
}

// APISuspend: suspensions were written through the API.
type APISuspend struct {
	Jobs       []string `json:"jobs" doc:"the jobs; none for the whole instance"`
	By         string   `json:"by" doc:"who"`
	RemoteAddr string   `json:"remote_addr" doc:"the client's address"`
}

// APIResume: suspensions were lifted through the API.
type APIResume struct {
	Jobs       []string `json:"jobs" doc:"the jobs; none for the whole instance"`
	By         string   `json:"by" doc:"who"`
	RemoteAddr string   `json:"remote_addr" doc:"the client's address"`
}

// APIRejected: an API request was refused.
type APIRejected struct {
	Path       string `json:"path" doc:"the request's path"`
	RemoteAddr string `json:"remote_addr" doc:"the client's address"`
	Reason     string `json:"reason" doc:"why"`
}

// ForwardError: a standby could not pass a sync request to the leader.
type ForwardError struct {
	Reason string `json:"reason" doc:"what asked for the sync"`
	Error  string `json:"error" doc:"what failed"`
}

// Delivery names a webhook delivery, for every webhook event.
type Delivery struct {
	Provider   string `json:"provider" doc:"github, gitlab or generic"`
	RemoteAddr string `json:"remote_addr" doc:"the sender's address"`
	Delivery   string `json:"delivery,omitempty" doc:"the provider's ID of the delivery"`
}

// WebhookPing: GitHub sent a ping.
type WebhookPing struct{ Delivery }

// WebhookPush: a push to a followed ref triggered a sync.
type WebhookPush struct {
	Delivery
	Ref     string   `json:"ref" doc:"the ref pushed"`
	Commit  string   `json:"commit" doc:"the commit pushed"`
	Sources []string `json:"sources,omitempty" doc:"the sources that follow it (--config)"`
}

// WebhookRejected: a delivery was refused.
type WebhookRejected struct {
	Delivery
	Status int    `json:"status" doc:"the HTTP status answered"`
	Reason string `json:"reason" doc:"why"`
}

// WebhookIgnored: an authentic delivery that does not concern drover.
// Logged at debug when it is a push to a ref not followed (Routine).
type WebhookIgnored struct {
	Delivery
	Reason string `json:"reason" doc:"why it was ignored"`
	Ref    string `json:"ref,omitempty" doc:"the ref pushed"`
	// Routine pushes (to a ref not followed) are logged at debug only.
	Routine bool `json:"-"`
}

// Level is debug for a routine push (to a ref not followed), info
// otherwise.
func (e WebhookIgnored) Level() zerolog.Level {
	if e.Routine {
		return zerolog.DebugLevel
	}
	return zerolog.InfoLevel
}

// WatchError: a blocking watch failed; it is retried.
type WatchError struct {
	Watch   string        `json:"watch,omitempty" doc:"the watch: cluster, forwarded or suspensions"`
	Error   string        `json:"error" doc:"what failed"`
	RetryIn time.Duration `json:"retry_in" doc:"when it is tried again"`
}

// WatchRecovered: a watch works again.
type WatchRecovered struct {
	Watch    string `json:"watch,omitempty" doc:"which watch"`
	Failures int    `json:"failures" doc:"how many attempts had failed"`
}

// AgentStart: the agent started serving.
type AgentStart struct {
	Listen string `json:"listen" doc:"the HTTP address"`
}

// AgentStop: the agent stopped.
type AgentStop struct{}

// AgentError: the agent stopped on an error.
type AgentError struct {
	Error string `json:"error" doc:"why"`
}

// HTTPError: the HTTP server stopped.
type HTTPError struct {
	Error string `json:"error" doc:"why"`
}

// HTTPServeError: the HTTP server complained about a connection.
type HTTPServeError struct {
	Error string `json:"error" doc:"the complaint"`
}

// LeaderAcquired: this replica became leader.
type LeaderAcquired struct {
	ID        string `json:"id" doc:"this replica's ID"`
	Advertise string `json:"advertise" doc:"its advertised address"`
	Session   string `json:"session" doc:"the Consul session holding the lock"`
}

// LeaderLost: this replica is no longer leader. Logged at info when it
// resigned or stopped, at warn otherwise.
type LeaderLost struct {
	ID      string `json:"id" doc:"this replica's ID"`
	Reason  string `json:"reason" doc:"resigned, stopped, or what ended the term"`
	Session string `json:"session" doc:"the Consul session"`
}

// Level is info when the replica resigned or stopped, warn otherwise.
func (e LeaderLost) Level() zerolog.Level {
	if e.Reason == "resigned" || e.Reason == "stopped" {
		return zerolog.InfoLevel
	}
	return zerolog.WarnLevel
}

// LeaderStandby: another replica is leader.
type LeaderStandby struct {
	Leader          string `json:"leader" doc:"the leader's ID"`
	LeaderAdvertise string `json:"leader_advertise" doc:"its advertised address"`
}

// LeaderError: campaigning failed; it is retried.
type LeaderError struct {
	Error   string        `json:"error" doc:"what failed"`
	RetryIn time.Duration `json:"retry_in" doc:"when it is tried again"`
}

// SourceError: a git source could not be read.
type SourceError struct {
	Source string `json:"source" doc:"the source"`
	Error  string `json:"error" doc:"what failed"`
}

// SourceRecovered: a git source is read again.
type SourceRecovered struct {
	Source string `json:"source" doc:"the source"`
	Commit string `json:"commit" doc:"the commit read"`
}

// CheckFailed: a start-up check (the checks of `drover check`) failed.
type CheckFailed struct {
	Check  string `json:"check" doc:"which check, as drover check names it"`
	Detail string `json:"detail" doc:"what was found"`
	Fix    string `json:"fix" doc:"what to change, e.g. the policy line to add"`
}

// GitInsecureHostKey: SSH host key checking is off.
type GitInsecureHostKey struct {
	URL string `json:"url" doc:"the remote, without credentials"`
}

// NotifyFailed: a notification was not delivered.
type NotifyFailed struct {
	Target       string `json:"target" doc:"the receiver, redacted"`
	Format       string `json:"format" doc:"the message format"`
	Notification string `json:"notification" doc:"which notification"`
	Error        string `json:"error" doc:"the last failure"`
}

// NotifyDropped: a notification was dropped (queue full or shutdown).
type NotifyDropped struct {
	Target       string `json:"target" doc:"the receiver, redacted"`
	Format       string `json:"format" doc:"the message format"`
	Notification string `json:"notification" doc:"which notification"`
}

// StatusFailed: a commit status was not set.
type StatusFailed struct {
	Status string `json:"status" doc:"which status"`
	Error  string `json:"error" doc:"the last failure"`
}

// StatusDropped: a commit status was dropped (queue full or shutdown).
type StatusDropped struct {
	Status string `json:"status" doc:"which status"`
}

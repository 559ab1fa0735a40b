package events

import (
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Type describes one event type: its name in the log and on /v1/events,
// the level it is logged at, and what the docs' event reference says of
// it.
type Type struct {
	Name string
	// Level is the level it is logged at. A type whose level depends on
	// its fields has a Level method (see LevelOf); Level is then the
	// level of its zero value, and Doc says when it varies.
	Level  zerolog.Level
	Doc    string
	Fields []FieldDoc
	// Example is the type's zero value.
	Example Event
}

// FieldDoc describes one field of an event type.
type FieldDoc struct {
	Name string
	// Type is the field's type as JSON shows it: string, integer, boolean,
	// time, duration, list of strings, object.
	Type string
	Doc  string
	// Optional fields are left out when empty.
	Optional bool
}

// Registry lists every event type drover emits, with its name, level and
// doc, in the order the docs show them. To add an event, declare its type
// and add it here.
func Registry() []Type {
	list := []struct {
		e     Event
		name  string
		level zerolog.Level
		doc   string
	}{
		{AgentStart{}, "agent.start", zerolog.InfoLevel, "The agent started; its HTTP server listens."},
		{AgentStop{}, "agent.stop", zerolog.InfoLevel, "The agent stopped."},
		{AgentError{}, "agent.error", zerolog.ErrorLevel, "The agent stopped on an error."},
		{HTTPError{}, "http.error", zerolog.ErrorLevel, "The HTTP server stopped on an error."},
		{HTTPServeError{}, "http.serve_error", zerolog.WarnLevel, "The HTTP server complained about a connection."},
		{SyncStart{}, "sync.start", zerolog.InfoLevel, "A sync cycle began."},
		{SyncDone{}, "sync.done", zerolog.InfoLevel, "A sync cycle ended: at error when it failed, at warn when some jobs failed."},
		{SyncStalled{}, "sync.stalled", zerolog.WarnLevel, "Syncs cannot succeed until the configuration or the remote changes."},
		{SyncHeld{}, "sync.held", zerolog.InfoLevel, "Nothing new is applied and nothing pruned in this cycle."},
		{SourceError{}, "source.error", zerolog.ErrorLevel, "A git source could not be read; its jobs are held at what it last gave."},
		{SourceRecovered{}, "source.recovered", zerolog.InfoLevel, "A git source is read again."},
		{GitInsecureHostKey{}, "git.insecure_host_key", zerolog.WarnLevel, "SSH host key checking is disabled for a remote."},
		{CheckFailed{}, "check.failed", zerolog.WarnLevel, "A start-up check failed (see `drover check`); a fatal one stops the start."},
		{JobSkipped{}, "job.skipped", zerolog.WarnLevel, "A file was not read as a job."},
		{JobInSync{}, "job.in_sync", zerolog.DebugLevel, "A job matches git (debug)."},
		{JobCreate{}, "job.create", zerolog.InfoLevel, "Git has a job the cluster does not run."},
		{JobUpdate{}, "job.update", zerolog.InfoLevel, "Git changed a job since drover last registered it."},
		{JobDrift{}, "job.drift", zerolog.InfoLevel, "The cluster's copy of a job differs from git's."},
		{JobApplied{}, "job.applied", zerolog.InfoLevel, "A job's spec was registered."},
		{JobHeld{}, "job.held", zerolog.InfoLevel, "A job differs but is held back, not registered."},
		{JobError{}, "job.error", zerolog.ErrorLevel, "A job was not deployed: its file, its plan or its register failed."},
		{JobConflict{}, "job.conflict", zerolog.WarnLevel, "The job changed in Nomad after it was planned; it was not overwritten."},
		{JobPlacementFailed{}, "job.placement_failed", zerolog.WarnLevel, "The scheduler could not place every allocation of a group."},
		{JobCountIgnored{}, "job.count_ignored", zerolog.DebugLevel, "A group's count differs where the autoscaler owns it (debug)."},
		{JobIgnoredDiff{}, "job.ignored_diff", zerolog.DebugLevel, "Fields listed in drover.ignore differ from git (debug)."},
		{JobRetryLater{}, "job.retry_later", zerolog.DebugLevel, "A refused plan is not planned again yet (debug)."},
		{JobOrphan{}, "job.orphan", zerolog.WarnLevel, "A job drover registered has lost its file in git."},
		{JobPruned{}, "job.pruned", zerolog.InfoLevel, "An orphaned job was stopped."},
		{JobQuarantined{}, "job.quarantined", zerolog.WarnLevel, "A spec that failed its rollout will not be applied again until git changes the job."},
		{RolloutStarted{}, "rollout.started", zerolog.InfoLevel, "A registered version is watched until healthy, failed or its deadline."},
		{RolloutResumed{}, "rollout.resumed", zerolog.InfoLevel, "An agent picks up a rollout a previous agent started."},
		{RolloutBaking{}, "rollout.baking", zerolog.InfoLevel, "The rollout is healthy and watched through the bake window."},
		{RolloutHealthy{}, "rollout.healthy", zerolog.InfoLevel, "The rollout stayed healthy through the bake window; its commit is the job's last good commit."},
		{RolloutFailed{}, "rollout.failed", zerolog.ErrorLevel, "The rollout failed; the spec is quarantined and, when there is a last good commit, rolled back."},
		{RolloutUnknown{}, "rollout.unknown", zerolog.WarnLevel, "Health cannot be seen: no verdict, nothing rolled back."},
		{RolloutUnresolved{}, "rollout.unresolved", zerolog.WarnLevel, "No verdict could be reached; drover stops watching."},
		{RolloutRejudged{}, "rollout.rejudged", zerolog.InfoLevel, "Health is visible again after an unknown; judged afresh."},
		{RolloutSuperseded{}, "rollout.superseded", zerolog.InfoLevel, "The watched version was replaced before a verdict."},
		{RolloutUnreachable{}, "rollout.unreachable", zerolog.WarnLevel, "The rollout's health cannot be seen; still watching."},
		{RolloutReachable{}, "rollout.reachable", zerolog.InfoLevel, "The rollout's health is visible again."},
		{RolloutError{}, "rollout.error", zerolog.WarnLevel, "A rollout could not be watched or read."},
		{RollbackApplied{}, "rollback.applied", zerolog.WarnLevel, "The job is back on its last good commit."},
		{RollbackFailed{}, "rollback.failed", zerolog.ErrorLevel, "The last good commit could not be put back, or failed too."},
		{StateError{}, "state.error", zerolog.WarnLevel, "The rollout state in Consul could not be read or written; kept in memory."},
		{StateConflict{}, "state.conflict", zerolog.WarnLevel, "A state key was changed in Consul by someone else; Consul's copy wins."},
		{StateInvalid{}, "state.invalid", zerolog.ErrorLevel, "A state key cannot be used; its job is held until it is fixed or deleted."},
		{ControlSuspended{}, "control.suspended", zerolog.WarnLevel, "A suspension was seen: planned and reported, not applied."},
		{ControlResumed{}, "control.resumed", zerolog.InfoLevel, "A suspension was lifted."},
		{APISuspend{}, "api.suspend", zerolog.InfoLevel, "Suspensions were written through the API."},
		{APIResume{}, "api.resume", zerolog.InfoLevel, "Suspensions were lifted through the API."},
		{APIRejected{}, "api.rejected", zerolog.WarnLevel, "An API request was refused."},
		{ForwardError{}, "forward.error", zerolog.WarnLevel, "A standby could not pass a sync request on to the leader."},
		{WebhookPing{}, "webhook.ping", zerolog.InfoLevel, "GitHub sent a ping: the webhook is set up."},
		{WebhookPush{}, "webhook.push", zerolog.InfoLevel, "A push to a followed ref triggered a sync."},
		{WebhookRejected{}, "webhook.rejected", zerolog.WarnLevel, "A webhook delivery was refused."},
		{WebhookIgnored{}, "webhook.ignored", zerolog.InfoLevel, "An authentic delivery that does not concern drover (debug for a push to a ref not followed)."},
		{WatchError{}, "watch.error", zerolog.WarnLevel, "A blocking watch failed; it is retried."},
		{WatchRecovered{}, "watch.recovered", zerolog.InfoLevel, "A watch works again."},
		{LeaderAcquired{}, "leader.acquired", zerolog.InfoLevel, "This replica became leader."},
		{LeaderLost{}, "leader.lost", zerolog.WarnLevel, "This replica is no longer leader: info when it resigned or stopped, warn otherwise."},
		{LeaderStandby{}, "leader.standby", zerolog.InfoLevel, "Another replica is leader."},
		{LeaderError{}, "leader.error", zerolog.WarnLevel, "Campaigning for leadership failed; it is retried."},
		{NotifyFailed{}, "notify.failed", zerolog.WarnLevel, "A notification was not delivered."},
		{NotifyDropped{}, "notify.dropped", zerolog.WarnLevel, "A notification was dropped: queue full or shutting down."},
		{StatusFailed{}, "status.failed", zerolog.WarnLevel, "A commit status was not set."},
		{StatusDropped{}, "status.dropped", zerolog.WarnLevel, "A commit status was dropped: queue full or shutting down."},
	}
	out := make([]Type, 0, len(list))
	for _, t := range list {
		out = append(out, Type{Name: t.name, Level: t.level, Doc: t.doc, Fields: fieldDocs(reflect.TypeOf(t.e)), Example: t.e})
	}
	return out
}

// byType indexes the registry by Go type, for Emit. Built once, never
// changed.
var byType = sync.OnceValue(func() map[reflect.Type]Type {
	types := Registry()
	m := make(map[reflect.Type]Type, len(types))
	for _, t := range types {
		m[reflect.TypeOf(t.Example)] = t
	}
	return m
})

// leveled is an event whose level depends on its fields.
type leveled interface{ Level() zerolog.Level }

// NameOf is e's name in the log and on /v1/events, "rollout.started". A
// type missing from the registry (a bug TestEveryEventTypeIsRegistered
// catches) is named by its Go type rather than lost.
func NameOf(e Event) string {
	if t, ok := byType()[reflect.TypeOf(e)]; ok {
		return t.Name
	}
	return fmt.Sprintf("%T", e)
}

// LevelOf is the level e is logged at: its type's, or what its Level
// method says for its fields. A type missing from the registry is logged
// at error, to be seen.
func LevelOf(e Event) zerolog.Level {
	if l, ok := e.(leveled); ok {
		return l.Level()
	}
	if t, ok := byType()[reflect.TypeOf(e)]; ok {
		return t.Level
	}
	return zerolog.ErrorLevel
}

func fieldDocs(t reflect.Type) []FieldDoc {
	var out []FieldDoc
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			out = append(out, fieldDocs(sf.Type)...)
			continue
		}
		name, omitEmpty, ok := jsonName(sf)
		if !ok {
			continue
		}
		out = append(out, FieldDoc{Name: name, Type: jsonType(sf.Type), Doc: sf.Tag.Get("doc"), Optional: omitEmpty})
	}
	return out
}

func jsonType(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(time.Time{}):
		return "time"
	case reflect.TypeOf(time.Duration(0)):
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "integer"
	case reflect.Slice:
		return "list of " + jsonType(t.Elem()) + "s"
	}
	return "object"
}

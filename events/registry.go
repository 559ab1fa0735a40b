package events

import (
	"reflect"
	"time"
)

// Type describes one event type for the docs' event reference.
type Type struct {
	Name string
	// Level is the level it is usually logged at; the type's doc says
	// when it varies.
	Level  string
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

// Registry lists every event type drover emits, in the order the docs
// show them.
func Registry() []Type {
	list := []struct {
		e   Event
		doc string
	}{
		{AgentStart{}, "The agent started; its HTTP server listens."},
		{AgentStop{}, "The agent stopped."},
		{AgentError{}, "The agent stopped on an error."},
		{HTTPError{}, "The HTTP server stopped on an error."},
		{HTTPServeError{}, "The HTTP server complained about a connection."},
		{SyncStart{}, "A sync cycle began."},
		{SyncDone{}, "A sync cycle ended: at error when it failed, at warn when some jobs failed."},
		{SyncStalled{}, "Syncs cannot succeed until the configuration or the remote changes."},
		{SyncHeld{}, "Nothing new is applied and nothing pruned in this cycle."},
		{SourceError{}, "A git source could not be read; its jobs are held at what it last gave."},
		{SourceRecovered{}, "A git source is read again."},
		{GitInsecureHostKey{}, "SSH host key checking is disabled for a remote."},
		{CheckFailed{}, "A start-up check failed (see `drover check`); a fatal one stops the start."},
		{JobSkipped{}, "A file was not read as a job."},
		{JobInSync{}, "A job matches git (debug)."},
		{JobCreate{}, "Git has a job the cluster does not run."},
		{JobUpdate{}, "Git changed a job since drover last registered it."},
		{JobDrift{}, "The cluster's copy of a job differs from git's."},
		{JobApplied{}, "A job's spec was registered."},
		{JobHeld{}, "A job differs but is held back, not registered."},
		{JobError{}, "A job was not deployed: its file, its plan or its register failed."},
		{JobConflict{}, "The job changed in Nomad after it was planned; it was not overwritten."},
		{JobPlacementFailed{}, "The scheduler could not place every allocation of a group."},
		{JobCountIgnored{}, "A group's count differs where the autoscaler owns it (debug)."},
		{JobIgnoredDiff{}, "Fields listed in drover.ignore differ from git (debug)."},
		{JobRetryLater{}, "A refused plan is not planned again yet (debug)."},
		{JobOrphan{}, "A job drover registered has lost its file in git."},
		{JobPruned{}, "An orphaned job was stopped."},
		{JobQuarantined{}, "A spec that failed its rollout will not be applied again until git changes the job."},
		{RolloutStarted{}, "A registered version is watched until healthy, failed or its deadline."},
		{RolloutResumed{}, "An agent picks up a rollout a previous agent started."},
		{RolloutBaking{}, "The rollout is healthy and watched through the bake window."},
		{RolloutHealthy{}, "The rollout stayed healthy through the bake window; its commit is the job's last good commit."},
		{RolloutFailed{}, "The rollout failed; the spec is quarantined and, when there is a last good commit, rolled back."},
		{RolloutUnknown{}, "Health cannot be seen: no verdict, nothing rolled back."},
		{RolloutUnresolved{}, "No verdict could be reached; drover stops watching."},
		{RolloutRejudged{}, "Health is visible again after an unknown; judged afresh."},
		{RolloutSuperseded{}, "The watched version was replaced before a verdict."},
		{RolloutUnreachable{}, "The rollout's health cannot be seen; still watching."},
		{RolloutReachable{}, "The rollout's health is visible again."},
		{RolloutError{}, "A rollout could not be watched or read."},
		{RollbackApplied{}, "The job is back on its last good commit."},
		{RollbackFailed{}, "The last good commit could not be put back, or failed too."},
		{StateError{}, "The rollout state in Consul could not be read or written; kept in memory."},
		{StateConflict{}, "A state key was changed in Consul by someone else; Consul's copy wins."},
		{StateInvalid{}, "A state key cannot be used; its job is held until it is fixed or deleted."},
		{ControlSuspended{}, "A suspension was seen: planned and reported, not applied."},
		{ControlResumed{}, "A suspension was lifted."},
		{APISuspend{}, "Suspensions were written through the API."},
		{APIResume{}, "Suspensions were lifted through the API."},
		{APIRejected{}, "An API request was refused."},
		{ForwardError{}, "A standby could not pass a sync request on to the leader."},
		{WebhookPing{}, "GitHub sent a ping: the webhook is set up."},
		{WebhookPush{}, "A push to a followed ref triggered a sync."},
		{WebhookRejected{}, "A webhook delivery was refused."},
		{WebhookIgnored{}, "An authentic delivery that does not concern drover (debug for a push to a ref not followed)."},
		{WatchError{}, "A blocking watch failed; it is retried."},
		{WatchRecovered{}, "A watch works again."},
		{LeaderAcquired{}, "This replica became leader."},
		{LeaderLost{}, "This replica is no longer leader: info when it resigned or stopped, warn otherwise."},
		{LeaderStandby{}, "Another replica is leader."},
		{LeaderError{}, "Campaigning for leadership failed; it is retried."},
		{NotifyFailed{}, "A notification was not delivered."},
		{NotifyDropped{}, "A notification was dropped: queue full or shutting down."},
		{StatusFailed{}, "A commit status was not set."},
		{StatusDropped{}, "A commit status was dropped: queue full or shutting down."},
	}
	out := make([]Type, 0, len(list))
	for _, t := range list {
		out = append(out, Type{Name: t.e.EventName(), Level: t.e.Level().String(), Doc: t.doc,
			Fields: fieldDocs(reflect.TypeOf(t.e)), Example: t.e})
	}
	return out
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

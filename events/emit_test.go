package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/rs/zerolog"
)

func TestEmit_WritesTheLogLineAtTheTypesLevel(t *testing.T) {
	var buf bytes.Buffer
	em := NewEmitter(zerolog.New(&buf), nil)
	em.Emit(RolloutFailed{Subject: Subject{Job: "web", Namespace: "default", Commit: "c2", Version: 3},
		Kind: "deploy", Reason: "check failing", RollbackTo: "c1",
		Problems: []api.Problem{{Kind: "check", Check: "http", Status: "critical"}}}, "rollout failed")
	em.Emit(RolloutError{Subject: Subject{Job: "web"}, Error: "no", RetryIn: 1500 * time.Millisecond}, "retrying")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log = %s", buf.String())
	}
	var failed map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &failed); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"level": "error", "event": "rollout.failed", "message": "rollout failed", "job": "web",
		"namespace": "default", "commit": "c2", "version": 3.0, "kind": "deploy", "reason": "check failing", "rollback_to": "c1"} {
		if failed[k] != want {
			t.Errorf("%s = %v, want %v (line %s)", k, failed[k], want, lines[0])
		}
	}
	for _, absent := range []string{"path", "source", "nomad_reverted", "rollback"} {
		if _, ok := failed[absent]; ok {
			t.Errorf("empty optional field %s logged: %s", absent, lines[0])
		}
	}
	if ps, _ := failed["problems"].([]any); len(ps) != 1 {
		t.Errorf("problems = %v", failed["problems"])
	}
	if !strings.Contains(lines[1], `"level":"warn"`) || !strings.Contains(lines[1], `"retry_in":"1.5s"`) {
		t.Errorf("rollout.error line = %s, want warn and the duration as text", lines[1])
	}
}

// The bug this package was rebuilt for: at --log-level warn or error the
// bus, and so the statuses, notifications and page, still get every event
// of level info and above.
func TestEmit_PublishesWhateverTheLogLevel(t *testing.T) {
	var buf bytes.Buffer
	b := NewBus(10)
	em := NewEmitter(zerolog.New(&buf).Level(zerolog.ErrorLevel), b)
	em.Emit(RolloutStarted{Subject: Subject{Job: "web", Commit: "c1"}, Kind: "deploy"}, "watching the rollout")
	em.Emit(RolloutHealthy{Subject: Subject{Job: "web", Commit: "c1"}, Kind: "deploy"}, "healthy")
	em.Emit(JobInSync{Subject: Subject{Job: "web"}}, "job matches git")
	if buf.Len() != 0 {
		t.Errorf("info lines logged at level error: %s", buf.String())
	}
	got := b.Recent(0)
	if len(got) != 2 {
		t.Fatalf("bus holds %d events, want rollout.started and rollout.healthy", len(got))
	}
	if _, ok := got[0].Event.(RolloutStarted); !ok {
		t.Errorf("first event %T", got[0].Event)
	}
	if h, ok := got[1].Event.(RolloutHealthy); !ok || h.Commit != "c1" {
		t.Errorf("second event %+v", got[1].Event)
	}
}

func TestEntry_JSONKeepsTheEventsAPIShape(t *testing.T) {
	b := NewBus(10)
	NewEmitter(zerolog.Nop(), b).Emit(SyncDone{Result: "failed", Step: "fetch", Error: "refused", RetryIn: time.Minute}, "sync failed")
	p, err := json.Marshal(b.Recent(0))
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Seq    uint64         `json:"seq"`
		Name   string         `json:"event"`
		Level  string         `json:"level"`
		Time   time.Time      `json:"time"`
		Fields map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(p, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Seq != 1 || got[0].Name != "sync.done" || got[0].Level != "error" || got[0].Time.IsZero() ||
		got[0].Fields["message"] != "sync failed" || got[0].Fields["step"] != "fetch" || got[0].Fields["retry_in"] != "1m0s" {
		t.Errorf("GET /v1/events shape: %s", p)
	}
}

// An event type left out of the registry (a bug the registry tests
// catch) is still logged, loudly, rather than lost.
func TestEmit_AnUnregisteredTypeIsLoggedAtError(t *testing.T) {
	type unregistered struct {
		Why string `json:"why"`
	}
	var buf bytes.Buffer
	NewEmitter(zerolog.New(&buf), nil).Emit(unregistered{Why: "forgotten"}, "oops")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log = %q: %v", buf.String(), err)
	}
	if line["level"] != "error" || line["event"] != "events.unregistered" || line["why"] != "forgotten" {
		t.Errorf("line = %s", buf.String())
	}
}

func TestEmit_NilEmitterEmitsNothing(t *testing.T) {
	var em *Emitter
	em.Emit(AgentStop{}, "stopped") // must not panic
}

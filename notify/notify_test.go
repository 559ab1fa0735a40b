package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/deliver"
	"github.com/drover-dev/drover/internal/testutil"
	"github.com/rs/zerolog"
)

func sample() Message {
	return Message{
		Type: "rollback.applied", Title: "Rolled back", Instance: "prod", Job: "web", Namespace: "default",
		Commit: "0123456789abcdef0123456789abcdef01234567", CommitURL: "https://github.com/acme/deploys/commit/0123456789abcdef0123456789abcdef01234567",
		RolledBackTo: "fedcba9876543210fedcba9876543210fedcba98",
		Why:          `check "service: web" critical: HTTP GET http://127.0.0.1:2000/health: 500 <Internal>`,
		Action:       "Put the job back on its last good commit fedcba98",
		Time:         time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC), Severity: "warning",
	}
}

func TestToSlack_SaysWhatJobCommitWhyAndAction(t *testing.T) {
	s := ToSlack(sample())
	for _, want := range []string{
		":warning: *Rolled back*", "job `web`",
		"commit <https://github.com/acme/deploys/commit/0123456789abcdef0123456789abcdef01234567|01234567>",
		"*Why:* check \"service: web\" critical: HTTP GET http://127.0.0.1:2000/health: 500 &lt;Internal&gt;",
		"*Done:* Put the job back on its last good commit fedcba98", "drover `prod`",
	} {
		if !strings.Contains(s.Text, want) {
			t.Errorf("Slack text lacks %q:\n%s", want, s.Text)
		}
	}
	if len(s.Blocks) != 1 || s.Blocks[0].Type != "section" || s.Blocks[0].Text.Type != "mrkdwn" || s.Blocks[0].Text.Text != s.Text {
		t.Errorf("blocks %+v", s.Blocks)
	}
	raw, _ := json.Marshal(s)
	var generic map[string]any
	_ = json.Unmarshal(raw, &generic)
	if _, ok := generic["text"].(string); !ok {
		t.Errorf("payload has no text string: %s", raw)
	}
}

func TestToCloudEvent_Envelope(t *testing.T) {
	m := sample()
	_, body, err := Target{Format: FormatCloudEvents, URL: "https://x"}.Body(m, "drover/prod", "id-1")
	if err != nil {
		t.Fatal(err)
	}
	var ce map[string]any
	if err := json.Unmarshal(body, &ce); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"specversion": "1.0", "id": "id-1", "source": "drover/prod", "type": "dev.drover.rollback.applied",
		"subject": "jobs/default/web", "time": "2026-11-27T17:00:00Z", "datacontenttype": "application/json",
	} {
		if ce[k] != want {
			t.Errorf("%s = %v, want %q", k, ce[k], want)
		}
	}
	data, _ := ce["data"].(map[string]any)
	if data["job"] != "web" || data["rolled_back_to"] != m.RolledBackTo || data["commit"] != m.Commit || data["why"] != m.Why {
		t.Errorf("data %v", data)
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in, format, url, redacted string
		bad                       bool
	}{
		{in: "slack:https://hooks.slack.com/services/T0/B0/SECRET", format: FormatSlack, url: "https://hooks.slack.com/services/T0/B0/SECRET", redacted: "https://hooks.slack.com"},
		{in: "https://events.example.com/drover?key=SECRET", format: FormatCloudEvents, url: "https://events.example.com/drover?key=SECRET", redacted: "https://events.example.com"},
		{in: "ftp://x/SECRET", bad: true},
		{in: "slack:not a url SECRET", bad: true},
	} {
		got, err := ParseTarget(tc.in)
		if tc.bad {
			if err == nil || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("ParseTarget(%q) err = %v; want an error without the secret", tc.in, err)
			}
			continue
		}
		if err != nil || got.Format != tc.format || got.URL != tc.url || got.Redacted() != tc.redacted {
			t.Errorf("ParseTarget(%q) = %+v (%s), %v", tc.in, got, got.Redacted(), err)
		}
	}
}

type receiver struct {
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, req)
	r.bodies = append(r.bodies, b)
	code := r.status
	r.mu.Unlock()
	if code == 0 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func TestNotifier_PostsEachFormatAndCountsFailuresWithoutLoggingSecrets(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slack, ce, down := &receiver{}, &receiver{}, &receiver{status: 500}
	urls := map[*receiver]string{}
	for _, r := range []*receiver{slack, ce, down} {
		srv := httptest.NewServer(r)
		defer srv.Close()
		urls[r] = srv.URL
	}
	var log testutil.Buffer
	var mu sync.Mutex
	results := map[string]int{}
	targets := []Target{
		{Format: FormatSlack, URL: urls[slack] + "/services/T0/B0/SECRET"},
		{Format: FormatCloudEvents, URL: urls[ce] + "/events?key=SECRET"},
		{Format: FormatCloudEvents, URL: urls[down] + "/SECRET"},
	}
	n := New(ctx, targets, Options{
		Source: "drover/prod",
		Queue:  deliver.Options{Attempts: 2, Backoff: func(int) time.Duration { return 0 }},
		Count: func(r string) {
			mu.Lock()
			results[r]++
			mu.Unlock()
		},
		Logger: zerolog.New(&log),
	})
	n.Send(sample())
	testutil.WaitFor(t, 10*time.Second, "one sent to each good target and the failing one given up", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return results[deliver.Sent] == 2 && results[deliver.Failed] == 1, fmt.Sprint(results)
	})
	if down.count() != 2 {
		t.Errorf("failing target got %d attempts, want 2", down.count())
	}
	slack.mu.Lock()
	if ct := slack.got[0].Header.Get("Content-Type"); ct != "application/json" || !strings.Contains(string(slack.bodies[0]), `"text":`) {
		t.Errorf("Slack request %s %s", ct, slack.bodies[0])
	}
	slack.mu.Unlock()
	ce.mu.Lock()
	if ct := ce.got[0].Header.Get("Content-Type"); ct != "application/cloudevents+json" || !strings.Contains(string(ce.bodies[0]), `"specversion":"1.0"`) {
		t.Errorf("CloudEvents request %s %s", ct, ce.bodies[0])
	}
	ce.mu.Unlock()
	if strings.Contains(log.String(), "SECRET") || !strings.Contains(log.String(), "notify.failed") {
		t.Errorf("log leaks a secret or lacks notify.failed:\n%s", log.String())
	}
}

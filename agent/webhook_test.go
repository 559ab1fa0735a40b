package agent

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/drover-dev/drover/internal/testutil"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/rs/zerolog"
)

const (
	testSecret = "s3cr3t-7c1f0e"
	testToken  = "api-tok-9d2b41"
)

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// newWebhookAgent is an agent following refName with the test secrets,
// logging into log.
func newWebhookAgent(t *testing.T, refName string, log *bytes.Buffer) *Agent {
	t.Helper()
	a, err := New(runnerOver(func(context.Context) (jobs.Tree, error) { return nil, errors.New("unused") },
		&jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), nil),
		Options{
			WebhookSecret: testSecret,
			APIToken:      testToken,
			RefName:       func() string { return refName },
			Logger:        zerolog.New(log).Level(zerolog.DebugLevel),
		})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// triggered reports whether the agent has a cycle pending, and consumes it.
func triggered(a *Agent) (string, bool) {
	select {
	case r := <-a.trigger:
		return r.reason, true
	default:
		return "", false
	}
}

func post(a *Agent, path string, header map[string]string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	a.Handler().ServeHTTP(w, req)
	return w
}

func TestVerifyGitHubSignature(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := sign(testSecret, body)
	for _, tc := range []struct {
		name   string
		body   []byte
		header string
		want   error
	}{
		{"valid", body, good, nil},
		{"wrong secret", body, sign("other-secret", body), errSignatureMismatch},
		{"missing header", body, "", errMissingSignature},
		{"sha1 header", body, "sha1=" + strings.Repeat("0", 40), errMalformedSig},
		{"no prefix", body, strings.TrimPrefix(good, "sha256="), errMalformedSig},
		{"not hex", body, "sha256=" + strings.Repeat("zz", 32), errMalformedSig},
		{"truncated", body, good[:len(good)-2], errMalformedSig},
		{"upper-case prefix", body, "SHA256=" + strings.TrimPrefix(good, "sha256="), errMalformedSig},
		{"body tampered", []byte(`{"ref":"refs/heads/evil"}`), good, errSignatureMismatch},
		{"empty body", nil, good, errSignatureMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := verifyGitHubSignature(testSecret, tc.body, tc.header); !errors.Is(err, tc.want) {
				t.Errorf("verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMatchRef(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name, watched, pushed string
		want                  bool
	}{
		{"branch", "refs/heads/main", "refs/heads/main", true},
		{"tag", "refs/tags/v1.2.0", "refs/tags/v1.2.0", true},
		{"default branch as resolved", "refs/heads/trunk", "refs/heads/trunk", true},
		{"other branch", "refs/heads/main", "refs/heads/feature", false},
		{"branch prefix is not a match", "refs/heads/main", "refs/heads/main2", false},
		{"tag named like the branch", "refs/heads/main", "refs/tags/main", false},
		{"short name is not a ref", "refs/heads/main", "main", false},
		{"pinned commit", sha, "refs/heads/main", false},
		{"pinned commit, push of the same sha", sha, sha, false},
		{"not resolved yet", "", "refs/heads/anything", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := matchRef(tc.watched, tc.pushed)
			if got != tc.want {
				t.Errorf("matchRef(%q, %q) = %v (%s), want %v", tc.watched, tc.pushed, got, why, tc.want)
			}
			if !got && why == "" {
				t.Error("an ignored push needs a reason")
			}
		})
	}
}

func TestGitHubWebhook(t *testing.T) {
	push := func(ref string) []byte { return []byte(`{"ref":"` + ref + `","after":"abc123","commits":[]}`) }
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name        string
		watched     string
		event       string
		body        []byte
		signature   func(body []byte) string
		contentType string
		wantCode    int
		wantTrigger bool
		wantLog     string
	}{
		{"push to the followed branch", "refs/heads/main", "push", push("refs/heads/main"), nil, "", http.StatusAccepted, true, `"event":"webhook.push"`},
		{"push to the followed tag", "refs/tags/v2", "push", push("refs/tags/v2"), nil, "", http.StatusAccepted, true, `"event":"webhook.push"`},
		{"push before the ref is resolved", "", "push", push("refs/heads/x"), nil, "", http.StatusAccepted, true, `"event":"webhook.push"`},
		{"push to another branch", "refs/heads/main", "push", push("refs/heads/feature"), nil, "", http.StatusOK, false, `"level":"debug","event":"webhook.ignored","provider":"github"`},
		{"push while pinned to a commit", sha, "push", push("refs/heads/main"), nil, "", http.StatusOK, false, `"level":"info"`},
		{"ping", "refs/heads/main", "ping", []byte(`{"zen":"Keep it logically awesome."}`), nil, "", http.StatusOK, false, `"event":"webhook.ping"`},
		{"other event", "refs/heads/main", "issues", []byte(`{"action":"opened"}`), nil, "", http.StatusOK, false, `"event":"webhook.ignored"`},
		{"form encoded", "refs/heads/main", "push", []byte("payload=" + url.QueryEscape(string(push("refs/heads/main")))), nil, "application/x-www-form-urlencoded", http.StatusAccepted, true, `"event":"webhook.push"`},
		{"wrong secret", "refs/heads/main", "push", push("refs/heads/main"), func(b []byte) string { return sign("nope", b) }, "", http.StatusUnauthorized, false, `"event":"webhook.rejected"`},
		{"missing signature", "refs/heads/main", "push", push("refs/heads/main"), func([]byte) string { return "" }, "", http.StatusUnauthorized, false, `"reason":"missing X-Hub-Signature-256 header"`},
		{"malformed signature", "refs/heads/main", "push", push("refs/heads/main"), func([]byte) string { return "sha256=xyz" }, "", http.StatusUnauthorized, false, `"reason":"malformed`},
		{"tampered body", "refs/heads/main", "push", push("refs/heads/main"), func([]byte) string { return sign(testSecret, push("refs/heads/other")) }, "", http.StatusUnauthorized, false, `"event":"webhook.rejected"`},
		{"signed garbage", "refs/heads/main", "push", []byte("not json"), nil, "", http.StatusBadRequest, false, `"event":"webhook.rejected"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			a := newWebhookAgent(t, tc.watched, &log)
			sig := sign(testSecret, tc.body)
			if tc.signature != nil {
				sig = tc.signature(tc.body)
			}
			h := map[string]string{"X-GitHub-Event": tc.event, "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
			if sig != "" {
				h["X-Hub-Signature-256"] = sig
			}
			if tc.contentType != "" {
				h["Content-Type"] = tc.contentType
			}
			w := post(a, "/webhook/github", h, tc.body)
			if w.Code != tc.wantCode {
				t.Errorf("status %d %s, want %d", w.Code, w.Body, tc.wantCode)
			}
			reason, got := triggered(a)
			if got != tc.wantTrigger || (got && reason != "webhook") {
				t.Errorf("triggered = %v (%q), want %v", got, reason, tc.wantTrigger)
			}
			if !strings.Contains(log.String(), tc.wantLog) {
				t.Errorf("log lacks %s:\n%s", tc.wantLog, log.String())
			}
			for _, secret := range []string{testSecret, sig} {
				if secret != "" && (strings.Contains(log.String(), secret) || strings.Contains(w.Body.String(), secret)) {
					t.Errorf("secret or signature %q in the log or response", secret)
				}
			}
		})
	}
}

func TestGitLabWebhook(t *testing.T) {
	push := func(kind, ref string) []byte {
		return []byte(`{"object_kind":"` + kind + `","ref":"` + ref + `","after":"abc123"}`)
	}
	for _, tc := range []struct {
		name        string
		token       string
		event       string
		body        []byte
		wantCode    int
		wantTrigger bool
	}{
		{"push to the followed branch", testSecret, "Push Hook", push("push", "refs/heads/main"), http.StatusAccepted, true},
		{"push to another branch", testSecret, "Push Hook", push("push", "refs/heads/dev"), http.StatusOK, false},
		{"tag push of another ref", testSecret, "Tag Push Hook", push("tag_push", "refs/tags/v1"), http.StatusOK, false},
		{"merge request", testSecret, "Merge Request Hook", []byte(`{"object_kind":"merge_request"}`), http.StatusOK, false},
		{"push hook header with another kind", testSecret, "Push Hook", push("note", "refs/heads/main"), http.StatusOK, false},
		{"wrong token", "guess", "Push Hook", push("push", "refs/heads/main"), http.StatusUnauthorized, false},
		{"token with a suffix", testSecret + "x", "Push Hook", push("push", "refs/heads/main"), http.StatusUnauthorized, false},
		{"missing token", "", "Push Hook", push("push", "refs/heads/main"), http.StatusUnauthorized, false},
		{"no ref", testSecret, "Push Hook", []byte(`{"object_kind":"push"}`), http.StatusBadRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			a := newWebhookAgent(t, "refs/heads/main", &log)
			h := map[string]string{"X-Gitlab-Event": tc.event, "Content-Type": "application/json"}
			if tc.token != "" {
				h["X-Gitlab-Token"] = tc.token
			}
			w := post(a, "/webhook/gitlab", h, tc.body)
			if w.Code != tc.wantCode {
				t.Errorf("status %d %s, want %d", w.Code, w.Body, tc.wantCode)
			}
			if _, got := triggered(a); got != tc.wantTrigger {
				t.Errorf("triggered = %v, want %v", got, tc.wantTrigger)
			}
			if strings.Contains(log.String(), testSecret) || strings.Contains(w.Body.String(), testSecret) {
				t.Errorf("secret in the log or response:\n%s", log.String())
			}
			if tc.wantCode == http.StatusUnauthorized && !strings.Contains(log.String(), `"event":"webhook.rejected"`) {
				t.Errorf("rejection not logged:\n%s", log.String())
			}
		})
	}
}

func TestWebhook_BodyOverLimitIs413(t *testing.T) {
	for _, path := range []string{"/webhook/github", "/webhook/gitlab"} {
		t.Run(path, func(t *testing.T) {
			var log bytes.Buffer
			a := newWebhookAgent(t, "refs/heads/main", &log)
			big := append([]byte(`{"ref":"refs/heads/main","pad":"`), bytes.Repeat([]byte("x"), maxWebhookBody)...)
			big = append(big, `"}`...)
			w := post(a, path, map[string]string{
				"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(testSecret, big),
				"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": testSecret,
			}, big)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", w.Code)
			}
			if _, got := triggered(a); got {
				t.Error("an oversized body triggered a sync")
			}
			// Just under the limit is read and handled.
			fits := []byte(`{"object_kind":"push","ref":"refs/heads/main","pad":"` + strings.Repeat("x", maxWebhookBody-100) + `"}`)
			w = post(a, path, map[string]string{
				"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(testSecret, fits),
				"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": testSecret,
			}, fits)
			if w.Code != http.StatusAccepted {
				t.Errorf("body under the limit: %d %s", w.Code, w.Body)
			}
		})
	}
}

func TestWebhook_RefusedWithoutSecret(t *testing.T) {
	for _, path := range []string{"/webhook/github", "/webhook/gitlab"} {
		t.Run(path, func(t *testing.T) {
			a := newTestAgent(t) // no secret configured
			body := []byte(`{"object_kind":"push","ref":"refs/heads/main"}`)
			w := post(a, path, map[string]string{
				"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("", body),
				"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "",
			}, body)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "--webhook-secret") {
				t.Errorf("status %d %s, want 403 naming --webhook-secret", w.Code, w.Body)
			}
			if _, got := triggered(a); got {
				t.Error("an unauthenticated webhook triggered a sync")
			}
		})
	}
}

func TestSync_BearerToken(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"valid", "Bearer " + testToken, http.StatusAccepted},
		{"scheme is case-insensitive", "bearer " + testToken, http.StatusAccepted},
		{"missing", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"token prefix", "Bearer " + testToken[:5], http.StatusUnauthorized},
		{"basic auth", "Basic " + testToken, http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			a := newWebhookAgent(t, "refs/heads/main", &log)
			h := map[string]string{}
			if tc.header != "" {
				h["Authorization"] = tc.header
			}
			w := post(a, "/v1/sync", h, nil)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d", w.Code, tc.want)
			}
			_, got := triggered(a)
			if got != (tc.want == http.StatusAccepted) {
				t.Errorf("triggered = %v with status %d", got, w.Code)
			}
			if tc.want == http.StatusUnauthorized {
				if w.Header().Get("WWW-Authenticate") == "" || !strings.Contains(log.String(), `"event":"api.rejected"`) {
					t.Errorf("401 without WWW-Authenticate or log line: %v\n%s", w.Header(), log.String())
				}
			}
			if strings.Contains(log.String(), testToken) || strings.Contains(w.Body.String(), testToken) {
				t.Error("API token in the log or response")
			}
		})
	}
}

func TestReadEndpointsStayOpenWithAToken(t *testing.T) {
	var log bytes.Buffer
	a := newWebhookAgent(t, "refs/heads/main", &log)
	for _, path := range []string{"/healthz", "/v1/status"} {
		if w := serve(a, "GET", path); w.Code == http.StatusUnauthorized || w.Code == http.StatusForbidden {
			t.Errorf("GET %s: %d; read endpoints must not need the token", path, w.Code)
		}
	}
}

// replayAgent is an agent following refs/heads/main that logs into a
// buffer safe for concurrent requests.
func replayAgent(t *testing.T) (*Agent, *testutil.Buffer) {
	t.Helper()
	log := &testutil.Buffer{}
	a, err := New(runnerOver(func(context.Context) (jobs.Tree, error) { return nil, errors.New("unused") },
		&jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), nil),
		Options{
			WebhookSecret: testSecret,
			RefName:       func() string { return "refs/heads/main" },
			Logger:        zerolog.New(log).Level(zerolog.DebugLevel),
		})
	if err != nil {
		t.Fatal(err)
	}
	return a, log
}

// deliver sends one delivery to h, as GitHub or GitLab would, with the
// delivery ID id ("" sends none) and a valid signature or token unless
// forged. The body is the same for every call.
func deliver(h http.Handler, provider, id string, forged bool) *httptest.ResponseRecorder {
	return deliverBody(h, provider, id, forged, `{"object_kind":"push","ref":"refs/heads/main","after":"abc123"}`)
}

func deliverBody(h http.Handler, provider, id string, forged bool, payload string) *httptest.ResponseRecorder {
	body := []byte(payload)
	req := httptest.NewRequest(http.MethodPost, "/webhook/"+provider, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	secret := testSecret
	if forged {
		secret = "guess"
	}
	switch provider {
	case "github":
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sign(secret, body))
		if id != "" {
			req.Header.Set("X-GitHub-Delivery", id)
		}
	case "gitlab":
		req.Header.Set("X-Gitlab-Event", "Push Hook")
		req.Header.Set("X-Gitlab-Token", secret)
		if id != "" {
			req.Header.Set("X-Gitlab-Event-UUID", id)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestWebhook_ReplayedDeliveryTriggersOnce(t *testing.T) {
	for _, provider := range []string{"github", "gitlab"} {
		t.Run(provider, func(t *testing.T) {
			a, log := replayAgent(t)
			h := a.Handler()
			const replays = 50
			codes := make(chan int, replays)
			var wg sync.WaitGroup
			for range replays {
				wg.Go(func() { codes <- deliver(h, provider, "72d3162e-cc78-11e3-81ab-4c9367dc0958", false).Code })
			}
			wg.Wait()
			close(codes)
			byCode := map[int]int{}
			for c := range codes {
				byCode[c]++
			}
			if byCode[http.StatusAccepted] != 1 || byCode[http.StatusOK] != replays-1 {
				t.Errorf("answers %v, want one 202 and %d × 200", byCode, replays-1)
			}
			if got := len(log.Events("webhook.push")); got != 1 {
				t.Errorf("%d webhook.push events, want 1", got)
			}
			ignored := log.Events("webhook.ignored")
			if len(ignored) != replays-1 || ignored[0]["reason"] != "duplicate delivery" {
				t.Errorf("%d webhook.ignored events (first %v), want %d with reason duplicate delivery", len(ignored), ignored, replays-1)
			}
		})
	}
}

func TestWebhook_DeliveryDedupe(t *testing.T) {
	for _, provider := range []string{"github", "gitlab"} {
		t.Run(provider+"/distinct deliveries each trigger", func(t *testing.T) {
			a, _ := replayAgent(t)
			h := a.Handler()
			for i, id := range []string{"d-1", "d-2", "d-3"} {
				body := fmt.Sprintf(`{"object_kind":"push","ref":"refs/heads/main","after":"c%d"}`, i)
				if w := deliverBody(h, provider, id, false, body); w.Code != http.StatusAccepted {
					t.Errorf("delivery %s: %d %s", id, w.Code, w.Body)
				}
			}
		})
		t.Run(provider+"/without an ID, distinct bodies each trigger", func(t *testing.T) {
			a, _ := replayAgent(t)
			h := a.Handler()
			for i := range 3 {
				body := fmt.Sprintf(`{"object_kind":"push","ref":"refs/heads/main","after":"c%d"}`, i)
				if w := deliverBody(h, provider, "", false, body); w.Code != http.StatusAccepted {
					t.Errorf("delivery without ID: %d %s", w.Code, w.Body)
				}
			}
		})
		t.Run(provider+"/a forged delivery does not burn the ID", func(t *testing.T) {
			a, _ := replayAgent(t)
			h := a.Handler()
			if w := deliver(h, provider, "d-1", true); w.Code != http.StatusUnauthorized {
				t.Fatalf("forged delivery: %d", w.Code)
			}
			if w := deliver(h, provider, "d-1", false); w.Code != http.StatusAccepted {
				t.Errorf("authentic delivery after a forged one with its ID: %d %s", w.Code, w.Body)
			}
		})
		t.Run(provider+"/a duplicate is answered 200 ignored", func(t *testing.T) {
			a, _ := replayAgent(t)
			h := a.Handler()
			deliver(h, provider, "d-1", false)
			w := deliver(h, provider, "d-1", false)
			var got map[string]string
			_ = json.Unmarshal(w.Body.Bytes(), &got)
			if w.Code != http.StatusOK || got["status"] != "ignored" || got["reason"] != "duplicate delivery" {
				t.Errorf("duplicate: %d %s", w.Code, w.Body)
			}
			if _, ok := triggered(a); !ok {
				t.Error("the first delivery did not trigger")
			}
			if _, ok := triggered(a); ok {
				t.Error("the duplicate triggered")
			}
		})
	}
	t.Run("github/a signed body replayed under a new ID is a duplicate", func(t *testing.T) {
		a, _ := replayAgent(t)
		h := a.Handler()
		if w := deliver(h, "github", "d-1", false); w.Code != http.StatusAccepted {
			t.Fatalf("first delivery: %d %s", w.Code, w.Body)
		}
		for _, id := range []string{"d-2", ""} {
			if w := deliver(h, "github", id, false); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "duplicate delivery") {
				t.Errorf("same signed body with ID %q: %d %s, want 200 duplicate delivery", id, w.Code, w.Body)
			}
		}
	})
	t.Run("gitlab/the same body under a new ID triggers: GitLab signs nothing", func(t *testing.T) {
		a, _ := replayAgent(t)
		h := a.Handler()
		for _, id := range []string{"d-1", "d-2"} {
			if w := deliver(h, "gitlab", id, false); w.Code != http.StatusAccepted {
				t.Errorf("delivery %s: %d %s", id, w.Code, w.Body)
			}
		}
	})
	t.Run("providers have separate memories", func(t *testing.T) {
		a, _ := replayAgent(t)
		h := a.Handler()
		for _, provider := range []string{"github", "gitlab"} {
			if w := deliver(h, provider, "same-id", false); w.Code != http.StatusAccepted {
				t.Errorf("%s: %d %s", provider, w.Code, w.Body)
			}
		}
	})
}

func TestDeliveries_ForgetsTheOldestPastTheBound(t *testing.T) {
	d := newDeliveries(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		if !d.first(id) {
			t.Fatalf("first(%q) = false on its first delivery", id)
		}
	}
	if len(d.seen) != 3 {
		t.Errorf("remembers %d IDs, bound is 3", len(d.seen))
	}
	// b, c and d are remembered; a was forgotten to make room for d.
	for _, id := range []string{"b", "c", "d"} {
		if d.first(id) {
			t.Errorf("first(%q) = true; it is among the last 3", id)
		}
	}
	if !d.first("a") {
		t.Error(`first("a") = false; it was forgotten and is new again`)
	}
	// Remembering a again forgot b, the oldest.
	if !d.first("b") {
		t.Error(`first("b") = false after a pushed it out`)
	}
}

// asciiLower lowers A-F only, the way hex digits may be written.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzVerifyGitHubSignature checks that a signature is accepted exactly
// when it is the body's HMAC under the secret, in either case of hex.
func FuzzVerifyGitHubSignature(f *testing.F) {
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		good := sign(secret, body)
		if err := verifyGitHubSignature(secret, body, good); err != nil {
			t.Fatalf("the correct signature %s was refused: %v", good, err)
		}
		hexSig, ok := strings.CutPrefix(header, "sha256=")
		correct := ok && asciiLower(hexSig) == strings.TrimPrefix(good, "sha256=")
		err := verifyGitHubSignature(secret, body, header)
		if (err == nil) != correct {
			t.Fatalf("verify(%q) = %v; correct signature is %s", header, err, good)
		}
		if err != nil && !errors.Is(err, errMissingSignature) && !errors.Is(err, errMalformedSig) && !errors.Is(err, errSignatureMismatch) {
			t.Fatalf("verify returned an error that is not one of its fixed reasons: %v", err)
		}
	})
}

// FuzzGitHubPayload checks that only a form-encoded delivery is unwrapped,
// and that unwrapping gives back the payload field exactly.
func FuzzGitHubPayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		out, err := githubPayload(contentType, body)
		if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/x-www-form-urlencoded" {
			if err != nil || !bytes.Equal(out, body) {
				t.Fatalf("content type %q: payload %q, %v; want the body unchanged", contentType, out, err)
			}
		}
		form := "payload=" + url.QueryEscape(string(body)) + "&other=x"
		out, err = githubPayload("application/x-www-form-urlencoded; charset=utf-8", []byte(form))
		if err != nil || !bytes.Equal(out, body) {
			t.Fatalf("form-encoded %q: payload %q, %v; want %q", form, out, err, body)
		}
	})
}

// FuzzWebhook sends authentic deliveries of any content to the handler and
// checks what it answers: a cycle is triggered exactly when the answer is
// 202, only for a push event whose ref is the followed one, and a forged
// copy of the same delivery is refused.
func FuzzWebhook(f *testing.F) {
	var watched string
	a, err := New(runnerOver(func(context.Context) (jobs.Tree, error) { return nil, errors.New("unused") },
		&jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), nil),
		Options{WebhookSecret: testSecret, RefName: func() string { return watched }, Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, gitlab bool, event, contentType string, body []byte, ref string) {
		// A handler per input: its memory of deliveries would otherwise
		// answer every repeated body as a duplicate.
		h := a.Handler()
		watched = ref
		path, eventHeader := "/webhook/github", "X-GitHub-Event"
		auth := map[string]string{"X-Hub-Signature-256": sign(testSecret, body)}
		forged := map[string]string{"X-Hub-Signature-256": sign(testSecret+"x", body)}
		if gitlab {
			path, eventHeader = "/webhook/gitlab", "X-Gitlab-Event"
			auth = map[string]string{"X-Gitlab-Token": testSecret}
			forged = map[string]string{"X-Gitlab-Token": testSecret + "x"}
		}
		send := func(creds map[string]string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set(eventHeader, event)
			req.Header.Set("Content-Type", contentType)
			for k, v := range creds {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w
		}

		w := send(auth)
		_, fired := triggered(a)
		var answer map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answer %d is not a JSON object of strings: %q", w.Code, w.Body)
		}
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest:
		case http.StatusAccepted:
			var p pushEvent
			payload := body
			if !gitlab {
				payload, _ = githubPayload(contentType, body)
			}
			if err := json.Unmarshal(payload, &p); err != nil {
				t.Fatalf("202 for a payload that is not JSON: %q", payload)
			}
			if p.Ref == "" || answer["ref"] != p.Ref {
				t.Fatalf("202 names ref %q, payload ref %q", answer["ref"], p.Ref)
			}
			if ref != "" && p.Ref != ref {
				t.Fatalf("202 for a push to %q while following %q", p.Ref, ref)
			}
			isPush := event == "push"
			if gitlab {
				isPush = (event == "Push Hook" || event == "Tag Push Hook") && (p.ObjectKind == "push" || p.ObjectKind == "tag_push")
			}
			if !isPush {
				t.Fatalf("202 for event %q (object_kind %q)", event, p.ObjectKind)
			}
		default:
			t.Fatalf("authentic delivery answered %d: %s", w.Code, w.Body)
		}
		if fired != (w.Code == http.StatusAccepted) {
			t.Fatalf("answered %d but triggered = %v", w.Code, fired)
		}
		if strings.Contains(w.Body.String(), testSecret) {
			t.Fatalf("answer holds the secret: %s", w.Body)
		}

		if w := send(forged); w.Code != http.StatusUnauthorized {
			t.Fatalf("forged delivery answered %d, want 401", w.Code)
		}
		if _, fired := triggered(a); fired {
			t.Fatal("a forged delivery triggered a cycle")
		}
	})
}

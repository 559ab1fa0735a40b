package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

const webhookSecret = "whsec-e2e-4b7d19a0"

// post sends body to the agent with header and returns status and body.
func post(t *testing.T, url string, header map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func hubSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// githubPush delivers a push event for ref at sha, signed with secret.
func githubPush(t *testing.T, a *agentProc, secret, ref, sha string) (int, string) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"ref":%q,"before":"0000000000000000000000000000000000000000","after":%q,"repository":{"full_name":"e2e/jobs"},"commits":[]}`, ref, sha))
	return post(t, "http://"+a.addr+"/webhook/github", map[string]string{
		"Content-Type":        "application/json",
		"X-GitHub-Event":      "push",
		"X-GitHub-Delivery":   fmt.Sprintf("e2e-%s-%d", sha[:8], time.Now().UnixNano()),
		"X-Hub-Signature-256": hubSignature(secret, body),
	}, body)
}

// gitlabPush delivers a GitLab push hook for ref at sha with token.
func gitlabPush(t *testing.T, a *agentProc, token, ref, sha string) (int, string) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"object_kind":"push","ref":%q,"after":%q,"project":{"path_with_namespace":"e2e/jobs"}}`, ref, sha))
	return post(t, "http://"+a.addr+"/webhook/gitlab", map[string]string{
		"Content-Type":   "application/json",
		"X-Gitlab-Event": "Push Hook",
		"X-Gitlab-Token": token,
	}, body)
}

// starts counts the agent's sync.start lines with reason.
func (a *agentProc) starts(reason string) int {
	return startsIn(a.log.String(), reason)
}

func startsIn(logs, reason string) int {
	n := 0
	for _, e := range testutil.EventsIn(logs, "sync.start") {
		if e["reason"] == reason {
			n++
		}
	}
	return n
}

// waitIdleAfter waits until a cycle with reason has started since the
// agent had before of them, and every cycle started has finished.
func (a *agentProc) waitIdleAfter(reason string, before int) {
	a.t.Helper()
	testutil.WaitFor(a.t, time.Minute, "a "+reason+" cycle finished", func() (bool, string) {
		// One snapshot of the log, or a cycle starting between two reads
		// would look finished.
		logs := a.log.String()
		n, started, done := startsIn(logs, reason), len(testutil.EventsIn(logs, "sync.start")), len(testutil.EventsIn(logs, "sync.done"))
		return n > before && started == done,
			fmt.Sprintf("%d %s cycles (had %d), %d started, %d done", n, reason, before, started, done)
	})
}

// syncNow triggers a cycle through the API (with token, when not empty)
// and waits for it to finish: the agent's own word, a sync.start with
// reason api since the POST and a sync.done for every cycle started. A
// trigger that arrives while another is pending merges into it, so no api
// cycle may follow a POST; the pending cycle then covered it, and once the
// agent is idle with no api cycle, syncNow asks again.
func (a *agentProc) syncNow(token string) {
	a.t.Helper()
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	ask := func() {
		if code, body := post(a.t, "http://"+a.addr+"/v1/sync", h, nil); code != http.StatusAccepted {
			a.t.Fatalf("POST /v1/sync: %d %s", code, body)
		}
	}
	logs := a.log.String()
	before, startsAtAsk := startsIn(logs, "api"), len(testutil.EventsIn(logs, "sync.start"))
	ask()
	testutil.WaitFor(a.t, time.Minute, "the api cycle POST /v1/sync asked for, finished", func() (bool, string) {
		// One snapshot of the log, or a cycle starting between two reads
		// would look finished.
		logs := a.log.String()
		n, started, done := startsIn(logs, "api"), len(testutil.EventsIn(logs, "sync.start")), len(testutil.EventsIn(logs, "sync.done"))
		if n == before && started == done && started > startsAtAsk {
			ask()
			startsAtAsk = started
		}
		return n > before && started == done,
			fmt.Sprintf("%d api cycles (had %d), %d started, %d done", n, before, started, done)
	})
}

// assertNoTriggerSince proves a delivery started no cycle: it triggers an
// API cycle and checks that this is the next cycle to run. Triggers merge
// while one is pending, so a cycle the delivery had triggered would have
// run (or absorbed the API trigger) with reason webhook.
func (a *agentProc) assertNoTriggerSince(webhooksBefore int) {
	a.t.Helper()
	a.syncNow("")
	if n := a.starts("webhook"); n != webhooksBefore {
		a.t.Errorf("%d webhook cycles, want %d: a refused or ignored delivery started a sync", n, webhooksBefore)
	}
}

// TestWebhook_GitHubPushSyncsAtOnce: with a one-hour interval, a signed push
// to the followed branch registers the new job right away; a badly signed
// one and a push to another branch start nothing.
func TestWebhook_GitHubPushSyncsAtOnce(t *testing.T) {
	r := newRepo(t)
	r.commit("empty", map[string]string{"README.md": "jobs live here"})
	a := startAgentWith(t, []string{"DROVER_WEBHOOK_SECRET=" + webhookSecret}, append(syncArgs(r, "wh-gh"), "--interval", "1h")...)
	a.waitIdleAfter("start", 0)
	head := r.git("rev-parse", "HEAD")

	// Wrong secret: 401 and logged. A push to another branch: authentic,
	// ignored. Neither starts a cycle.
	if code, body := githubPush(t, a, "not-the-secret", "refs/heads/main", head); code != http.StatusUnauthorized {
		t.Fatalf("wrongly signed push: %d %s, want 401", code, body)
	}
	a.waitEvent("webhook.rejected", 10*time.Second, func(e map[string]any) bool {
		return e["provider"] == "github" && strings.Contains(fmt.Sprint(e["reason"]), "signature does not match")
	})
	code, body := githubPush(t, a, webhookSecret, "refs/heads/feature", head)
	if code != http.StatusOK || !strings.Contains(body, "ignored") {
		t.Fatalf("push to another branch: %d %s, want 200 ignored", code, body)
	}
	a.waitEvent("webhook.ignored", 10*time.Second, func(e map[string]any) bool { return e["ref"] == "refs/heads/feature" })
	a.assertNoTriggerSince(0)

	// A new commit and its signed push to main: the job is registered at
	// the pushed commit, without waiting for the hour-long interval.
	sha := r.commit("add job", map[string]string{"wh-gh.nomad.hcl": helloJob("wh-gh", "1.0.0")})
	before := a.starts("webhook")
	code, body = githubPush(t, a, webhookSecret, "refs/heads/main", sha)
	if code != http.StatusAccepted {
		t.Fatalf("signed push to main: %d %s, want 202", code, body)
	}
	a.waitIdleAfter("webhook", before)
	if got := nomadJob(t, "wh-gh").Meta["drover.commit"]; got != sha {
		t.Errorf("job registered at %q, want the pushed commit %s", got, sha)
	}
	push := a.waitEvent("webhook.push", 10*time.Second, nil)
	if push["ref"] != "refs/heads/main" || push["commit"] != sha {
		t.Errorf("webhook.push line = %v", push)
	}
}

// TestWebhook_GitLabToken: the right X-Gitlab-Token triggers a sync of the
// followed (default) branch; a wrong one is 401 and triggers nothing.
func TestWebhook_GitLabToken(t *testing.T) {
	r := newRepo(t)
	r.commit("empty", map[string]string{"README.md": "jobs live here"})
	// No --ref: the agent follows the remote's default branch, main.
	a := startAgent(t, append(syncArgs(r, "wh-gl"), "--interval", "1h", "--webhook-secret", webhookSecret)...)
	a.waitIdleAfter("start", 0)
	sha := r.commit("add job", map[string]string{"wh-gl.nomad.hcl": helloJob("wh-gl", "1.0.0")})

	if code, body := gitlabPush(t, a, "wrong-token", "refs/heads/main", sha); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d %s, want 401", code, body)
	}
	if code, body := gitlabPush(t, a, "", "refs/heads/main", sha); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s, want 401", code, body)
	}
	a.assertNoTriggerSince(0)
	// The API cycle above already synced the commit; push another one.
	sha = r.commit("bump job", map[string]string{"wh-gl.nomad.hcl": helloJob("wh-gl", "1.0.1")})

	before := a.starts("webhook")
	if code, body := gitlabPush(t, a, webhookSecret, "refs/heads/main", sha); code != http.StatusAccepted {
		t.Fatalf("right token: %d %s, want 202", code, body)
	}
	a.waitIdleAfter("webhook", before)
	if got := nomadJob(t, "wh-gl").Meta["drover.commit"]; got != sha {
		t.Errorf("job at %q after the GitLab push, want %s", got, sha)
	}
}

// TestWebhook_IgnoredPushesStartNothing: pushes to other branches and, for
// an agent pinned to a commit, any push are ignored with 200.
func TestWebhook_IgnoredPushesStartNothing(t *testing.T) {
	r := newRepo(t)
	pinned := r.commit("empty", map[string]string{"README.md": "jobs live here"})
	a := startAgent(t, append(syncArgs(r, "wh-pin"), "--interval", "1h", "--dry-run",
		"--ref", pinned, "--webhook-secret", webhookSecret)...)
	a.waitIdleAfter("start", 0)
	sha := r.commit("more", map[string]string{"NOTES.md": "x"})
	for _, ref := range []string{"refs/heads/main", "refs/tags/v1"} {
		code, body := githubPush(t, a, webhookSecret, ref, sha)
		if code != http.StatusOK || !strings.Contains(body, "fixed commit") {
			t.Errorf("push to %s while pinned: %d %s, want 200 ignored", ref, code, body)
		}
	}
	a.assertNoTriggerSince(0)
	ignored := a.waitEvent("webhook.ignored", 10*time.Second, nil)
	if ignored["level"] != "info" || !strings.Contains(fmt.Sprint(ignored["reason"]), pinned) {
		t.Errorf("pinned push line = %v", ignored)
	}
}

// TestWebhook_RefusedWithoutSecret: an agent without --webhook-secret
// refuses every webhook.
func TestWebhook_RefusedWithoutSecret(t *testing.T) {
	r := newRepo(t)
	sha := r.commit("empty", map[string]string{"README.md": "x"})
	a := startAgent(t, append(syncArgs(r, "wh-off"), "--interval", "1h", "--dry-run")...)
	a.waitIdleAfter("start", 0)
	code, body := githubPush(t, a, "", "refs/heads/main", sha)
	if code != http.StatusForbidden || !strings.Contains(body, "--webhook-secret") {
		t.Errorf("webhook without a configured secret: %d %s, want 403", code, body)
	}
	if code, _ := gitlabPush(t, a, "", "refs/heads/main", sha); code != http.StatusForbidden {
		t.Errorf("GitLab webhook without a configured secret: %d, want 403", code)
	}
	a.assertNoTriggerSince(0)
}

// TestAPI_SyncNeedsBearerToken: with --api-token, POST /v1/sync needs it;
// the read endpoints stay open.
func TestAPI_SyncNeedsBearerToken(t *testing.T) {
	const token = "apitok-e2e-81c3f2"
	r := newRepo(t)
	r.commit("empty", map[string]string{"README.md": "x"})
	a := startAgentWith(t, []string{"DROVER_API_TOKEN=" + token}, append(syncArgs(r, "api-tok"), "--interval", "1h", "--dry-run")...)
	a.waitIdleAfter("start", 0)

	for name, header := range map[string]map[string]string{
		"no header":   nil,
		"wrong token": {"Authorization": "Bearer nope"},
		"basic auth":  {"Authorization": "Basic " + token},
	} {
		if code, _ := post(t, "http://"+a.addr+"/v1/sync", header, nil); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	a.waitEvent("api.rejected", 10*time.Second, nil)
	if n := a.starts("api"); n != 0 {
		t.Errorf("%d API cycles after refused requests", n)
	}
	a.syncNow(token)
	if n := a.starts("api"); n != 1 {
		t.Errorf("%d API cycles, want 1", n)
	}
	for _, path := range []string{"/healthz", "/v1/status", "/metrics"} {
		if code, _ := get(t, "http://"+a.addr+path); code != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", path, code)
		}
	}
}

package e2e

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAgent_UnreachableNomadAndGitKeepRunning: with Nomad down the cycle
// fails in one line, /healthz is 503 with the reason, and the agent keeps
// retrying; once git goes away the same holds for the fetch, and nothing is
// touched.
func TestAgent_UnreachableNomadAndGitKeepRunning(t *testing.T) {
	r := newRepo(t)
	r.commit("job", map[string]string{"down.nomad.hcl": helloJob("down", "1.0.0")})
	closed := "http://" + freeAddr(t) // nothing listens there
	a := startAgentWith(t, []string{"NOMAD_ADDR=" + closed}, append(syncArgs(r, "down"), "--interval", "1h")...)

	failed := a.waitEvent("sync.done", 30*time.Second, func(e map[string]any) bool { return e["result"] == "failed" })
	if !strings.Contains(failed["error"].(string), "connection refused") || failed["retry_in"] == nil {
		t.Errorf("failed cycle line = %v", failed)
	}
	testutil.WaitFor(t, 10*time.Second, "healthz 503", func() (bool, string) {
		code, body := get(t, "http://"+a.addr+"/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "connection refused"), body
	})
	// It retries with backoff instead of exiting.
	testutil.WaitFor(t, 30*time.Second, "a retry", func() (bool, string) {
		n := 0
		for _, e := range testutil.EventsIn(a.log.String(), "sync.start") {
			if e["reason"] == "retry" {
				n++
			}
		}
		return n > 0, a.log.String()
	})
	if _, _, err := env.cluster.Nomad().Jobs().Info("down", nil); err == nil {
		t.Error("job registered although Nomad was unreachable")
	}
	if code := a.stop(); code != 0 {
		t.Errorf("agent exit %d, want 0", code)
	}
}

// TestAgent_GitGoneFailsFetchAndHealthz: a remote that disappears fails the
// fetch step; the agent keeps running and says why.
func TestAgent_GitGoneFailsFetchAndHealthz(t *testing.T) {
	r := newRepo(t)
	r.commit("job", map[string]string{"gone.nomad.hcl": helloJob("gone", "1.0.0")})
	a := startAgent(t, append(syncArgs(r, "gone"), "--interval", "1h", "--dry-run")...)
	a.waitEvent("sync.done", time.Minute, func(e map[string]any) bool { return e["result"] == nil })
	if code, _ := get(t, "http://"+a.addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz after a good cycle: %d", code)
	}
	if _, _, err := env.cluster.Nomad().Jobs().Info("gone", nil); err == nil {
		t.Error("--dry-run registered a job")
	}
	if err := os.RemoveAll(r.dir); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+a.addr+"/v1/sync", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/sync: %v %v", resp, err)
	}
	resp.Body.Close()
	failed := a.waitEvent("sync.done", time.Minute, func(e map[string]any) bool { return e["step"] == "fetch" })
	if failed["result"] != "failed" {
		t.Errorf("fetch failure line = %v", failed)
	}
	code, body := get(t, "http://"+a.addr+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "at step fetch: ") {
		t.Errorf("healthz = %d %q, want 503 naming the fetch", code, body)
	}
	if st := a.status(); st.LastSync.OK || st.LastSync.FailedStep != "fetch" {
		t.Errorf("status last_sync = %+v", st.LastSync)
	}
}

// TestSecrets_NeverInLogsErrorsOrStatus: a git token, a Nomad token, a
// URL password, the webhook secret, the API token and webhook signatures
// given to drover appear nowhere in what it prints or serves.
func TestSecrets_NeverInLogsErrorsOrStatus(t *testing.T) {
	const gitToken, nomadToken, urlPassword = "tok-3f9a1c-git", "tok-77e2d0-nomad", "pw-5b1e44"
	const hookSecret, apiToken = "whsec-0c9e5a-hook", "apitok-2d8f61-api"
	closedGit := "http://drover:" + urlPassword + "@" + freeAddr(t) + "/jobs.git"

	res := droverWith(t, []string{"NOMAD_TOKEN=" + nomadToken, "DROVER_GIT_TOKEN=" + gitToken},
		"plan", "--repo", "http://"+freeAddr(t)+"/jobs.git", "--instance", "secrets")
	if res.code != 1 {
		t.Fatalf("plan against a closed remote: exit %d, want 1", res.code)
	}
	res2 := drover(t, "plan", "--repo", closedGit, "--instance", "secrets")
	if res2.code != 1 {
		t.Fatalf("plan against a closed remote: exit %d, want 1", res2.code)
	}

	a := startAgentWith(t, []string{"NOMAD_TOKEN=" + nomadToken, "DROVER_WEBHOOK_SECRET=" + hookSecret},
		"--repo", closedGit, "--instance", "secrets", "--api-token", apiToken)
	a.waitEvent("sync.done", time.Minute, func(e map[string]any) bool { return e["step"] == "fetch" })

	// Deliveries and API calls, refused and accepted, with the secrets in
	// their headers: none may echo them.
	body := []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`)
	goodSig, badSig := hubSignature(hookSecret, body), hubSignature(hookSecret+"x", body)
	var replies []string
	for _, d := range []struct {
		path   string
		header map[string]string
		want   int
	}{
		{"/webhook/github", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": goodSig}, http.StatusAccepted},
		{"/webhook/github", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": badSig}, http.StatusUnauthorized},
		{"/webhook/gitlab", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": hookSecret + "x"}, http.StatusUnauthorized},
		{"/v1/sync", map[string]string{"Authorization": "Bearer " + apiToken + "x"}, http.StatusUnauthorized},
		{"/v1/sync", map[string]string{"Authorization": "Bearer " + apiToken}, http.StatusAccepted},
	} {
		code, reply := post(t, "http://"+a.addr+d.path, d.header, body)
		if code != d.want {
			t.Errorf("POST %s: %d %s, want %d", d.path, code, reply, d.want)
		}
		replies = append(replies, reply)
	}
	a.waitEvent("api.rejected", 10*time.Second, nil)
	_, health := get(t, "http://"+a.addr+"/healthz")
	_, status := get(t, "http://"+a.addr+"/v1/status")
	_, metrics := get(t, "http://"+a.addr+"/metrics")
	// The web page, its "sync now" form (the token is the proof) and the
	// events.
	form := url.Values{"token": {apiToken}}.Encode()
	code, reply := post(t, "http://"+a.addr+"/sync", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte(form))
	if code != http.StatusOK || !strings.Contains(reply, "Sync started.") { // the 303 is followed to the page
		t.Errorf("POST /sync with the token: %d %s", code, reply)
	}
	replies = append(replies, reply)
	_, page := get(t, "http://"+a.addr+"/")
	_, evs := get(t, "http://"+a.addr+"/v1/events")
	if !strings.Contains(page, "Sync now") || !strings.Contains(evs, "api.rejected") {
		t.Errorf("the page offers no sync, or /v1/events lacks the refusals:\n%s\n%s", page, evs)
	}
	if !strings.Contains(status, "drover@") && !strings.Contains(status, "jobs.git") {
		t.Errorf("status does not describe the repo: %s", status)
	}
	if !strings.Contains(status, `"webhooks": "enabled"`) || !strings.Contains(status, `"sync_token": "enabled"`) {
		t.Errorf("status does not say webhooks and the sync token are on: %s", status)
	}
	outs := append([]string{res.stdout, res.stderr, res2.stdout, res2.stderr, a.log.String(), health, status, metrics, page, evs}, replies...)
	for _, out := range outs {
		for _, secret := range []string{gitToken, nomadToken, urlPassword, hookSecret, apiToken,
			strings.TrimPrefix(goodSig, "sha256="), strings.TrimPrefix(badSig, "sha256=")} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q printed:\n%s", secret, out)
			}
		}
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/forge"
	"github.com/drover-dev/drover/forge/forgetest"
)

const (
	fbGitHubToken = "ghp-e2e-SECRET-token"
	fbGitLabToken = "glpat-e2e-SECRET-token"
)

// brokenJob does not parse: line 3 opens a block that never closes.
const brokenJob = `job "fb-broken" {
  group "web" {
    task "x" {
`

// TestFeedback_PlanCommentCreatedThenUpdatedInPlace runs `drover plan
// --comment` twice on one pull/merge request: one comment, edited in
// place, never a second one; the exit codes stay the plan's.
func TestFeedback_PlanCommentCreatedThenUpdatedInPlace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		provider string
		fake     func(t *testing.T) *forgetest.Server
		args     func(s *forgetest.Server) []string
		env      string
	}{
		{"github", func(t *testing.T) *forgetest.Server { return forgetest.NewGitHub(t, "acme/deploys", fbGitHubToken) },
			func(s *forgetest.Server) []string {
				return []string{"--comment", "github", "--pr", "12", "--github-repo", "acme/deploys", "--github-api-url", s.APIURL()}
			}, "DROVER_GITHUB_TOKEN=" + fbGitHubToken},
		{"gitlab", func(t *testing.T) *forgetest.Server {
			return forgetest.NewGitLab(t, "acme/infra/deploys", fbGitLabToken)
		},
			func(s *forgetest.Server) []string {
				return []string{"--comment", "gitlab", "--mr", "12", "--gitlab-project", "acme/infra/deploys", "--gitlab-url", s.APIURL()}
			}, "DROVER_GITLAB_TOKEN=" + fbGitLabToken},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			t.Parallel()
			id := "fb-plan-" + tc.provider
			instance := id
			fake := tc.fake(t)
			fake.AddComment(12, "Looks good to me")
			r := newRepo(t)
			r.commit("deployed", map[string]string{"app.nomad.hcl": helloJob(id, "1.0.0")})
			if res := drover(t, append([]string{"apply"}, syncArgs(r, instance)...)...); res.code != 0 {
				t.Fatalf("apply exit %d\n%s", res.code, res.stderr)
			}
			first := r.commit("first", map[string]string{"app.nomad.hcl": helloJob(id, "2.0.0")})
			args := append([]string{"plan"}, syncArgs(r, instance, tc.args(fake)...)...)

			run1 := droverWith(t, []string{tc.env}, args...)
			if run1.code != 2 {
				t.Fatalf("first plan exit %d, want 2 (a job to update)\n%s", run1.code, run1.stderr)
			}
			cs := fake.Comments()
			if len(cs) != 2 {
				t.Fatalf("%d comments after the first run, want the person's and drover's", len(cs))
			}
			body := cs[1].Body
			for _, want := range []string{forge.Marker(instance), "1 update", first[:12], "<details><summary><b>" + id + "</b>: update", `"1.0.0" => "2.0.0"`} {
				if !strings.Contains(body, want) {
					t.Errorf("first comment lacks %q:\n%s", want, body)
				}
			}
			t.Logf("sample %s plan comment:\n%s", tc.provider, body)
			second := r.commit("second", map[string]string{"broken.nomad.hcl": brokenJob})
			run2 := droverWith(t, []string{tc.env}, args...)
			if run2.code != 1 {
				t.Fatalf("second plan exit %d, want 1 (a file does not parse)\n%s", run2.code, run2.stderr)
			}
			cs = fake.Comments()
			if len(cs) != 2 || cs[0].Body != "Looks good to me" {
				t.Fatalf("after the second run: %d comments, want the same two: %+v", len(cs), cs)
			}
			body = cs[1].Body
			for _, want := range []string{second[:12], "1 update", "1 errors", "broken.nomad.hcl:3"} {
				if !strings.Contains(body, want) {
					t.Errorf("edited comment lacks %q:\n%s", want, body)
				}
			}
			t.Logf("sample %s plan comment, edited:\n%s", tc.provider, body)
			if strings.Contains(body, first[:12]) {
				t.Errorf("edited comment still names the first commit:\n%s", body)
			}
			for _, out := range []string{run1.stdout, run1.stderr, run2.stdout, run2.stderr} {
				if strings.Contains(out, "SECRET") {
					t.Errorf("the token was printed:\n%s", out)
				}
			}
			for _, p := range fake.Problems() {
				t.Errorf("%s fake saw a bad request: %s", tc.provider, p)
			}
		})
	}
}

// receiver records the notifications posted to it.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	types  []string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if r.Method != http.MethodPost || json.Unmarshal(b, &m) != nil {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, m)
		rc.types = append(rc.types, r.Header.Get("Content-Type"))
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

// waitBody waits for a posted body matching pred.
func (rc *receiver) waitBody(t *testing.T, timeout time.Duration, what string, pred func(map[string]any) bool) (map[string]any, string) {
	t.Helper()
	var found map[string]any
	var ct string
	eventually(t, timeout, what, func() (bool, string) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for i, b := range rc.bodies {
			if pred(b) {
				found, ct = b, rc.types[i]
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d bodies", len(rc.bodies))
	})
	return found, ct
}

// statesOf is the states the fake was sent for context at commit, in order.
func statesOf(s *forgetest.Server, context, commit string) ([]string, []forgetest.Status) {
	var states []string
	var all []forgetest.Status
	for _, st := range s.Statuses() {
		if st.Context == context && st.Commit == commit {
			states = append(states, st.State)
			all = append(all, st)
		}
	}
	return states, all
}

func waitStates(t *testing.T, s *forgetest.Server, context, commit string, want ...string) []forgetest.Status {
	t.Helper()
	var all []forgetest.Status
	eventually(t, 90*time.Second, fmt.Sprintf("statuses %v of %s at %.8s", want, context, commit), func() (bool, string) {
		var states []string
		states, all = statesOf(s, context, commit)
		if len(states) < len(want) {
			return false, strings.Join(states, ",")
		}
		return strings.Join(states, ",") == strings.Join(want, ","), strings.Join(states, ",")
	})
	return all
}

// TestFeedback_StatusesAndNotificationsOfAGoodThenARolledBackCommit: a
// good commit gets pending then success; a commit whose Consul check fails
// gets pending then failure with the check's output, and Slack and
// CloudEvents receivers are told it was rolled back, to which commit.
func TestFeedback_StatusesAndNotificationsOfAGoodThenARolledBackCommit(t *testing.T) {
	t.Parallel()
	const id = "fb-status"
	gh := forgetest.NewGitHub(t, "acme/deploys", fbGitHubToken)
	slack, ce := newReceiver(t), newReceiver(t)
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a := startAgentWith(t, []string{"DROVER_GITHUB_TOKEN=" + fbGitHubToken},
		fbArgs(r, id, "--status", "github", "--github-repo", "acme/deploys", "--github-api-url", gh.APIURL(),
			"--public-url", "https://drover.example",
			"--notify", "slack:"+slack.URL+"/services/T0/B0/SECRET", "--notify", ce.URL+"/events?key=SECRET")...)

	statusContext := "drover/" + id + "/" + id
	sts := waitStates(t, gh, statusContext, good, "pending", "success")
	if sts[0].TargetURL != "https://drover.example/jobs/default/"+id {
		t.Errorf("target_url %q", sts[0].TargetURL)
	}

	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	sts = waitStates(t, gh, statusContext, bad, "pending", "failure")
	failure := sts[len(sts)-1].Description
	if !strings.Contains(failure, "Rolled back to "+good[:8]) || !strings.Contains(failure, "check") || !strings.Contains(failure, "500") ||
		len([]rune(failure)) > 140 {
		t.Errorf("failure status description %q: want the rollback, the failing check and its output, at most 140 characters", failure)
	}
	t.Logf("failure status: %q", failure)

	msg, ct := slack.waitBody(t, 60*time.Second, "Slack rollback message", func(b map[string]any) bool {
		text, _ := b["text"].(string)
		return strings.Contains(text, "Rolled back") && strings.Contains(text, id)
	})
	text := msg["text"].(string)
	if ct != "application/json" || !strings.Contains(text, good[:8]) || !strings.Contains(text, bad[:8]) || !strings.Contains(text, "500") {
		t.Errorf("Slack message (%s) does not say job, bad commit, why, and the commit rolled back to:\n%s", ct, text)
	}
	t.Logf("sample Slack message:\n%s", text)
	// The rollback's own rollout runs the good commit again: once it is
	// healthy, the good commit's status must still be just pending, success.
	a.waitEvent("rollout.healthy", 90*time.Second, func(e map[string]any) bool {
		return e["job"] == id && e["commit"] == good && e["kind"] == "rollback"
	})
	if states, _ := statesOf(gh, statusContext, good); strings.Join(states, ",") != "pending,success" {
		t.Errorf("the rollback changed the good commit's statuses: %v", states)
	}
	if _, ok := msg["blocks"].([]any); !ok {
		t.Errorf("Slack message has no blocks: %v", msg)
	}

	ev, ct := ce.waitBody(t, 60*time.Second, "CloudEvent rollback.applied", func(b map[string]any) bool {
		return b["type"] == "dev.drover.rollback.applied"
	})
	data, _ := ev["data"].(map[string]any)
	if ct != "application/cloudevents+json" || ev["specversion"] != "1.0" || ev["source"] != "drover/"+id ||
		ev["id"] == "" || ev["time"] == nil || ev["datacontenttype"] != "application/json" ||
		data["job"] != id || data["commit"] != bad || data["rolled_back_to"] != good {
		t.Errorf("CloudEvent (%s): %v", ct, ev)
	}
	ce.waitBody(t, 30*time.Second, "CloudEvent rollout.failed", func(b map[string]any) bool {
		return b["type"] == "dev.drover.rollout.failed"
	})

	eventually(t, 30*time.Second, "notifications counted as sent", func() (bool, string) {
		_, body := get(t, "http://"+a.addr+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, `drover_notifications_total{result="sent"} `); ok {
				return v != "0", line
			}
		}
		return false, "no drover_notifications_total{result=\"sent\"}"
	})
	if strings.Contains(a.log.String(), "SECRET") {
		t.Error("the agent logged a token or a notification URL's secret")
	}
	for _, p := range gh.Problems() {
		t.Errorf("GitHub fake saw a bad request: %s", p)
	}
}

// TestFeedback_FailingGitHubDoesNotDelayTheRollback times the same bad
// rollout and rollback three times at once: with GitHub answering, with it
// answering 500, and with it hanging. The faults may not slow the
// rollback beyond the noise of a shared machine.
func TestFeedback_FailingGitHubDoesNotDelayTheRollback(t *testing.T) {
	t.Parallel()
	type lane struct {
		name  string
		fault forgetest.Fault
		took  time.Duration
	}
	lanes := []*lane{{name: "ok", fault: forgetest.OK}, {name: "500", fault: forgetest.Fail}, {name: "hang", fault: forgetest.Hang}}
	var wg sync.WaitGroup
	for _, l := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.took = timedRollback(t, "fb-fault-"+l.name, l.fault)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	base := lanes[0].took
	for _, l := range lanes[1:] {
		t.Logf("rollback with GitHub %s: %s (without a fault: %s)", l.name, l.took, base)
		if l.took > 3*base+10*time.Second {
			t.Errorf("GitHub %s: the rollback took %s, against %s without the fault", l.name, l.took, base)
		}
	}
}

// timedRollback deploys a good commit, then a bad one, with GitHub set to
// fault from the bad commit on, and returns how long it took from the bad
// register to the rollback's register. It reports failures with t.Error,
// being run off the test's goroutine.
func timedRollback(t *testing.T, id string, fault forgetest.Fault) time.Duration {
	gh := forgetest.NewGitHub(t, "acme/deploys", fbGitHubToken)
	r := newRepo(t)
	good := r.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	a := startAgentWith(t, []string{"DROVER_GITHUB_TOKEN=" + fbGitHubToken},
		fbArgs(r, id, "--status", "github", "--github-repo", "acme/deploys", "--github-api-url", gh.APIURL())...)
	if !waitLog(a, "rollout.healthy", 120*time.Second, onCommit(id, good)) {
		t.Errorf("%s: the good commit never became healthy", id)
		return 0
	}
	gh.SetFault(fault)
	bad := r.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	var started, applied map[string]any
	if !waitLog(a, "rollout.started", 60*time.Second, func(e map[string]any) bool { started = e; return onCommit(id, bad)(e) }) ||
		!waitLog(a, "rollback.applied", 120*time.Second, func(e map[string]any) bool {
			applied = e
			return e["job"] == id && e["from_commit"] == bad && e["to_commit"] == good
		}) {
		t.Errorf("%s (GitHub fault %d): no rollback", id, fault)
		return 0
	}
	t0, err0 := time.Parse(time.RFC3339, fmt.Sprint(started["time"]))
	t1, err1 := time.Parse(time.RFC3339, fmt.Sprint(applied["time"]))
	if err0 != nil || err1 != nil {
		t.Errorf("%s: event times %v %v", id, started["time"], applied["time"])
		return 0
	}
	if fault != forgetest.OK && len(gh.Calls()) == 0 {
		t.Errorf("%s: the faulty GitHub was never called; the test proves nothing", id)
	}
	return t1.Sub(t0)
}

// waitLog is waitEvent for a goroutine other than the test's: it reports
// instead of failing.
func waitLog(a *agentProc, name string, timeout time.Duration, pred func(map[string]any) bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, e := range eventsIn(a.log.String(), name) {
			if pred(e) {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// fbArgs are an agent's flags: its repo and instance, short rollouts, and
// extra.
func fbArgs(r *repo, instance string, extra ...string) []string {
	args := syncArgs(r, instance)
	args = append(args, rolloutArgs...)
	return append(args, extra...)
}

// TestFeedback_StatusesWithManySources: an agent following two repos from
// a config file sets each job's commit statuses, pending then success, on
// the commit of the source the job comes from, in the GitHub repository
// that source names.
func TestFeedback_StatusesWithManySources(t *testing.T) {
	t.Parallel()
	gh := forgetest.NewGitHub(t, "acme/deploys", fbGitHubToken)
	const instance = "fb-srcs"
	repos := map[string]*repo{"alpha": newRepo(t), "beta": newRepo(t)}
	shas := map[string]string{}
	var config strings.Builder
	for _, name := range []string{"alpha", "beta"} {
		r := repos[name]
		shas[name] = r.commit(name+"'s job", map[string]string{"app.nomad.hcl": rolloutJob(instance+"-"+name, helloVariant{version: "1.0.0"})})
		fmt.Fprintf(&config, "source %q {\n  repo = %q\n  var  = { hello_bin = %q }\n  github_repo = \"acme/deploys\"\n}\n\n", name, r.dir, env.hello)
	}
	path := filepath.Join(t.TempDir(), "drover.hcl")
	if err := os.WriteFile(path, []byte(config.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--config", path, "--instance", instance, "--status", "github", "--github-api-url", gh.APIURL()}, rolloutArgs...)
	startAgentWith(t, append([]string{"DROVER_GITHUB_TOKEN=" + fbGitHubToken}, noVarEnv...), args...)

	for _, name := range []string{"alpha", "beta"} {
		job := instance + "-" + name
		waitStates(t, gh, "drover/"+instance+"/"+job, shas[name], "pending", "success")
	}
	for _, p := range gh.Problems() {
		t.Errorf("GitHub fake saw a bad request: %s", p)
	}
}

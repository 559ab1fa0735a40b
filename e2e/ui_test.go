package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The page's tests drive a real Chromium against a real agent, Nomad and
// Consul. They wait on what the page shows, which only its own script
// (following /v1/events) can change: none reloads the page.

func TestUI_ListsJobsAndFollowsARolloutLive(t *testing.T) {
	t.Parallel()
	followsARolloutLive(t, "ui-live")
}

// TestUI_FollowsARolloutLiveAtLogLevelError: the page is fed by the
// events, not by the log, so a quiet log leaves it just as live (issue 17:
// at --log-level warn the events panel used to go quiet).
func TestUI_FollowsARolloutLiveAtLogLevelError(t *testing.T) {
	t.Parallel()
	a := followsARolloutLive(t, "ui-quiet", "--log-level", "error")
	if strings.Contains(a.log.String(), `"level":"info"`) {
		t.Errorf("the agent logged info lines at --log-level error:\n%s", a.log.String())
	}
}

// followsARolloutLive runs an agent with flags extra over two jobs, live
// and live+"-other", named after instance, and follows a rollout of the
// first in the browser.
func followsARolloutLive(t *testing.T, instance string, extra ...string) *agentProc {
	live, other := instance, instance+"-other"
	r := newRepo(t)
	good := r.commit("two good jobs", map[string]string{
		"live.nomad.hcl":  rolloutJob(live, helloVariant{version: "1.0.0"}),
		"other.nomad.hcl": rolloutJob(other, helloVariant{version: "1.0.0"}),
	})
	a := startAgent(t, append(append(syncArgs(r, instance), rolloutArgs...), extra...)...)
	b := newBrowser(t)
	b.open("http://" + a.addr + "/")

	b.waitFor("both jobs listed healthy", rowIs(live, "healthy", good)+" && "+rowIs(other, "healthy", good), 120*time.Second)
	if word := eval[string](b, `document.querySelector('#jobs tr[data-job="default/`+live+`"] td.state').innerText.trim()`); word != "healthy" {
		t.Errorf("state cell says %q; a state must be a word, not only a colour", word)
	}
	if head := eval[string](b, `document.querySelector("header").innerText`); !strings.Contains(head, instance) || !strings.Contains(head, good[:8]) {
		t.Errorf("header lacks the instance or the commit:\n%s", head)
	}

	// Filtering and sorting happen in the page, without a request.
	b.markPage()
	eval[bool](b, `(() => { const q = document.getElementById("filter-q"); q.value = "other"; q.dispatchEvent(new Event("input")); return true; })()`)
	visible := `[...document.querySelectorAll("#jobs tbody tr")].filter(r => !r.hidden).map(r => r.dataset.job).join(",")`
	if got := eval[string](b, visible); got != "default/"+other {
		t.Errorf("filter %q shows rows %q, want only %s", "other", got, other)
	}
	eval[bool](b, `(() => { const q = document.getElementById("filter-q"); q.value = ""; q.dispatchEvent(new Event("input")); return true; })()`)
	order := `[...document.querySelectorAll("#jobs tbody tr")].map(r => r.dataset.job).join(",")`
	eval[bool](b, `(document.querySelector("#jobs thead th button").click(), true)`)
	asc := eval[string](b, order)
	eval[bool](b, `(document.querySelector("#jobs thead th button").click(), true)`)
	desc := eval[string](b, order)
	if asc != "default/"+live+",default/"+other || desc != "default/"+other+",default/"+live {
		t.Errorf("sorting by job: %q then %q", asc, desc)
	}
	b.assertNotReloaded()

	next := r.commit("v2", map[string]string{"live.nomad.hcl": rolloutJob(live, helloVariant{version: "2.0.0"})})
	a.sync()
	b.waitFor(live+" rolling out", rowIs(live, "rolling out", ""), 60*time.Second)
	b.waitFor(live+" healthy on the new commit", rowIs(live, "healthy", next), 120*time.Second)
	b.assertNotReloaded()
	if !eval[bool](b, rowIs(other, "healthy", good)) {
		t.Errorf("%s changed although its file did not", other)
	}
	b.waitFor("the events panel shows the verdict",
		`[...document.querySelectorAll("#events tbody tr")].some(r => r.innerText.includes("rollout.healthy") && r.innerText.includes(`+jsString(next[:8])+`))`,
		30*time.Second)
	return a
}

func TestUI_BadCommitFailsThenRollsBack(t *testing.T) {
	t.Parallel()
	const id, ok = "ui-rb", "ui-rb-ok"
	r := newRepo(t)
	good := r.commit("good", map[string]string{
		"rb.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"}),
		"ok.nomad.hcl": rolloutJob(ok, helloVariant{version: "1.0.0"}),
	})
	a := startAgent(t, append(syncArgs(r, "ui-rb"), rolloutArgs...)...)
	b := newBrowser(t)
	b.open("http://" + a.addr + "/")
	b.waitFor("jobs healthy", rowIs(id, "healthy", good)+" && "+rowIs(ok, "healthy", good), 120*time.Second)

	// Record every status the row shows, as the page's script redraws it.
	b.markPage()
	eval[bool](b, `(window.__seen = [], setInterval(() => {
  const r = [...document.querySelectorAll("#jobs tbody tr")].find(r => r.dataset.job === "default/`+id+`");
  const s = r ? r.dataset.status : "";
  if (s && window.__seen[window.__seen.length - 1] !== s) window.__seen.push(s);
}, 50), true)`)
	bad := r.commit("bad: /health answers 500", map[string]string{"rb.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	b.waitFor(id+" rolled back to the good commit", rowIs(id, "rolled back", good), 150*time.Second)
	b.assertNotReloaded()
	seen := eval[[]string](b, `window.__seen`)
	// The first time the row showed each state: the rollback's own
	// rollout shows "rolling out" again after "failed".
	at := map[string]int{}
	for i, s := range seen {
		if _, ok := at[s]; !ok {
			at[s] = i
		}
	}
	iRolling, rolling := at["rolling out"]
	iBack := at["rolled back"]
	if !rolling || iRolling > iBack {
		t.Errorf("row went through %q; want rolling out, then (failed), then rolled back", seen)
	}
	if iFailed, failed := at["failed"]; failed && (iFailed < iRolling || iFailed > iBack) {
		t.Errorf("row went through %q; failed must come between rolling out and rolled back", seen)
	}
	b.waitFor(id+"'s rollback healthy", rowIs(id, "rolled back", good)+` && [...document.querySelectorAll("#events tbody tr")].some(r => r.innerText.includes("rollback.applied"))`, 60*time.Second)
	b.screenshot("ui-main.png")

	b.open("http://" + a.addr + "/jobs/default/" + id)
	rolledBack := eval[string](b, `(document.querySelector("#rolled-back") || {innerText: ""}).innerText`)
	if !strings.Contains(rolledBack, good[:8]) || !strings.Contains(rolledBack, bad[:8]) || !strings.Contains(rolledBack, "500") {
		t.Errorf("job page does not say it rolled back from %s to %s because of the check:\n%s", bad[:8], good[:8], rolledBack)
	}
	outputs := eval[string](b, `[...document.querySelectorAll("pre.output")].map(p => p.innerText).join("\n")`)
	if !strings.Contains(outputs, "500") {
		t.Errorf("job page does not show the failing check's output; outputs: %q", outputs)
	}
	history := eval[string](b, `(document.querySelector("#history") || {innerText: ""}).innerText`)
	if !strings.Contains(history, bad[:8]) || !strings.Contains(history, "failed") || !strings.Contains(history, good[:8]) {
		t.Errorf("history does not hold the failed commit and the rollback:\n%s", history)
	}
	b.screenshot("ui-job.png")
}

func TestUI_ShowsHostileTextLiterally(t *testing.T) {
	t.Parallel()
	// HTML in the job's name, in a meta value, and in a check's output:
	// all of it must show as text, and none of it run.
	const id = `ui-<b>bold<i>it&amp;`
	const meta = `<script>alert(2)</script><img src=x onerror=alert(3)>`
	const output = `<script>alert(1)</script>`
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, output)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	evil.Listener = ln
	evil.Start()
	t.Cleanup(evil.Close)
	evilPort := ln.Addr().(*net.TCPAddr).Port

	r := newRepo(t)
	good := r.commit("good", map[string]string{"hostile.nomad.hcl": hostileJob(id, "plain", "http", evilPort)})
	a := startAgent(t, append(syncArgs(r, "ui-hostile"), rolloutArgs...)...)
	a.waitEvent("rollout.healthy", 120*time.Second, onCommit(id, good))
	bad := r.commit("<script>alert(4)</script> in the message", map[string]string{"hostile.nomad.hcl": hostileJob(id, meta, "evil", evilPort)})
	a.sync()
	a.waitEvent("rollout.failed", 120*time.Second, onCommit(id, bad))

	b := newBrowser(t)
	b.open("http://" + a.addr + "/")
	b.waitFor("the job listed", `[...document.querySelectorAll("#jobs tbody tr")].some(r => r.dataset.job === `+jsString("default/"+id)+`)`, 60*time.Second)
	name := eval[string](b, `[...document.querySelectorAll("#jobs tbody tr")].find(r => r.dataset.job === `+jsString("default/"+id)+`).cells[0].innerText`)
	if name != "default/"+id {
		t.Errorf("job name shown as %q, want the literal %q", name, "default/"+id)
	}
	b.waitFor("the meta value shown as text", `document.body.innerText.includes(`+jsString(meta)+`)`, 30*time.Second)
	b.assertNoInjectedMarkup()

	b.open("http://" + a.addr + "/jobs/default/" + url.PathEscape(id))
	if h := eval[string](b, `document.querySelector("#job h2").innerText`); !strings.Contains(h, id) {
		t.Errorf("job page heading %q lacks the literal name %q", h, id)
	}
	b.waitFor("the check output shown as text", `[...document.querySelectorAll("pre.output")].some(p => p.innerText.includes(`+jsString(output)+`))`, 30*time.Second)
	b.assertNoInjectedMarkup()
	if n := b.dialogCount(); n != 0 {
		t.Fatalf("%d dialogs opened: injected script ran", n)
	}
}

// hostileJob is a hello job with a meta value and its service's check on
// the port labelled checkPort: "http" is hello itself, "evil" the test's
// server answering 500 with HTML.
func hostileJob(id, note, checkPort string, evilPort int) string {
	return fmt.Sprintf(`job %q {
  update {
    min_healthy_time  = "1s"
    healthy_deadline  = "1m"
    progress_deadline = "2m"
  }
  meta {
    note = %q
  }
  group "web" {
    network {
      port "http" {}
      port "evil" {
        static = %d
      }
    }
    service {
      name     = "ui-hostile"
      port     = "http"
      provider = "consul"
      check {
        type     = "http"
        port     = %q
        path     = "/health"
        interval = "1s"
        timeout  = "5s"
      }
    }
    task "hello" {
      driver = "raw_exec"
      config {
        command = var.hello_bin
        args    = ["-addr", "127.0.0.1:${NOMAD_PORT_http}", "-version", "1.0.0"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}

variable "hello_bin" {
  type = string
}
`, id, note, evilPort, checkPort)
}

// assertNoInjectedMarkup checks that no text from git, Nomad or Consul
// became elements: the page's own script is its only one, and it has no
// image and no bold or italic text.
func (b *browser) assertNoInjectedMarkup() {
	b.t.Helper()
	if n := eval[int](b, `document.querySelectorAll("script").length`); n != 1 {
		b.t.Errorf("%d script elements in the page, want only app.js", n)
	}
	if n := eval[int](b, `document.querySelectorAll("img, b, i").length`); n != 0 {
		b.t.Errorf("%d img/b/i elements in the page: markup from the job was not escaped", n)
	}
}

func (b *browser) dialogCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.dialogs)
}

package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/events"
	"github.com/rs/zerolog"
)

const xss = `<script>alert(1)</script>`

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// doc is a /v1/status document with a job of every kind, and attacker
// text wherever git, Nomad or Consul text lands.
func doc() map[string]any {
	return map[string]any{
		"agent": map[string]string{"instance": "prod", "repo": "https://github.com/acme/jobs.git", "ref": "main",
			"version": "v1.2.3", "webhooks": "enabled", "interval": "1m", "bake": "30s", "cluster_watch": "enabled"},
		"commit":      "0123456789abcdef0123456789abcdef01234567",
		"commit_info": map[string]any{"subject": "deploy " + xss, "author": "Mallory " + xss, "time": now.Add(-3 * time.Minute)},
		"last_sync": map[string]any{"started": now.Add(-time.Minute), "finished": now.Add(-59 * time.Second),
			"duration_ms": 1200, "ok": true},
		"report": map[string]any{"revision": "0123456789abcdef", "jobs": []map[string]any{
			{"job": "web", "namespace": "default", "path": "web.nomad.hcl", "class": "in_sync", "state": "synced", "commit": "aaa111", "held": "rollout in flight"},
			{"job": "db", "namespace": "default", "path": "db.nomad.hcl", "class": "in_sync", "state": "synced", "commit": "aaa111", "held": "rollout in flight"},
			{"job": "api", "namespace": "default", "path": "api.nomad.hcl", "class": "update", "state": "applied", "commit": "bbb222",
				"changes": []string{`+/- Count: "1" => "2"`, `+ Meta[note]: "` + xss + `"`}, "depends_on": []string{"default/db"}},
			{"job": xss, "namespace": "default", "path": "evil/" + xss + ".hcl", "class": "drift", "state": "out_of_sync", "commit": "ccc333"},
			{"path": "broken.nomad.hcl", "class": "failed", "state": "error", "error": "broken.nomad.hcl:3,1: Unclosed configuration block"},
		}},
		"rollouts": []map[string]any{
			{"job": "api", "namespace": "default", "state": "rolled_back", "last_good_commit": "aaa000", "applied_commit": "aaa000",
				"rolled_back": map[string]any{"from_commit": "bbb222", "to_commit": "aaa000", "reason": "check failed: " + xss, "at": now.Add(-time.Minute)},
				"quarantined": []map[string]any{{"fingerprint": "f1", "commit": "bbb222", "reason": "check \"web\" critical: " + xss, "at": now}},
				"rollout":     map[string]any{"kind": "rollback", "commit": "aaa000", "version": 7, "phase": "healthy", "started": now.Add(-time.Minute)},
				"history":     []map[string]any{{"commit": "bbb222", "version": 6, "class": "update", "kind": "deploy", "at": now.Add(-2 * time.Minute), "verdict": "failed", "reason": xss}},
			},
			{"job": "db", "namespace": "default", "state": "healthy", "last_good_commit": "aaa111", "applied_commit": "aaa111"},
			{"job": "web", "namespace": "default", "state": "rolling_out", "last_good_commit": "aaa111",
				"rollout": map[string]any{"kind": "deploy", "commit": "aaa111", "phase": "baking", "started": now.Add(-20 * time.Second),
					"healthy_since": now.Add(-10 * time.Second)}},
		},
		"ha": map[string]any{"role": "single"},
	}
}

// bus is an event bus holding evs, emitted with the message "msg " + xss.
func bus(t *testing.T, evs ...events.Event) *events.Bus {
	t.Helper()
	b := events.NewBus(100)
	for _, e := range evs {
		emit(b, e)
	}
	return b
}

func emit(b *events.Bus, e events.Event) {
	events.NewEmitter(zerolog.Nop(), b).Emit(e, "msg "+xss)
}

type page struct {
	t   *testing.T
	srv *httptest.Server
}

func newPage(t *testing.T, d map[string]any, evs Events, sync func(*http.Request, string) (int, string)) *page {
	t.Helper()
	u, err := New(Options{
		Status:     func(context.Context) ([]byte, error) { return json.Marshal(d) },
		Events:     evs,
		Sync:       sync,
		NomadUIURL: "http://nomad:4646/ui",
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &page{t: t, srv: srv}
}

func (p *page) get(path string) (*http.Response, string) {
	p.t.Helper()
	resp, err := http.Get(p.srv.URL + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp, string(b)
}

func failedEvent() events.Event {
	return events.RolloutFailed{Subject: events.Subject{Job: "api", Namespace: "default", Commit: "bbb222"}, Reason: xss,
		Problems: []api.Problem{{Kind: "check", Check: "web-" + xss, Status: "critical", Output: "HTTP 500: " + xss,
			Events: []string{"Terminated: " + xss}}}}
}

func TestPage_EscapesAttackerText(t *testing.T) {
	p := newPage(t, doc(), bus(t, failedEvent()), nil)
	for _, path := range []string{"/", "/jobs/default/api", "/jobs/default/" + url.PathEscape(xss)} {
		t.Run(path, func(t *testing.T) {
			resp, body := p.get(path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
			}
			if strings.Contains(body, xss) || strings.Contains(body, "<script>") {
				t.Errorf("GET %s: attacker text reached the page unescaped:\n%s", path, body)
			}
			if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("GET %s: the attacker text is not shown literally", path)
			}
			if n := strings.Count(body, "<script"); n != 1 || !strings.Contains(body, `<script src="/assets/app.js" defer></script>`) {
				t.Errorf("GET %s: %d script elements; want only the page's own app.js", path, n)
			}
		})
	}
}

// TestPage_HeaderDescribesTheCommit: the commit drover is at, with its
// subject, author and age, as text.
func TestPage_HeaderDescribesTheCommit(t *testing.T) {
	_, body := newPage(t, doc(), bus(t), nil).get("/")
	for _, want := range []string{"deploy &lt;script&gt;alert(1)&lt;/script&gt;", "Mallory &lt;script&gt;", "3m00s ago"} {
		if !strings.Contains(body, want) {
			t.Errorf("page has no %q in its header", want)
		}
	}
}

func TestPage_JobPageShowsWhyItRolledBack(t *testing.T) {
	p := newPage(t, doc(), bus(t, failedEvent()), nil)
	_, body := p.get("/jobs/default/api")
	for _, want := range []string{
		"HTTP 500: &lt;script&gt;",   // the failing check's output, from the event
		`id="rolled-back"`, "aaa000", // the commit it went back to
		"bbb222", // the commit that failed
		`<span class="st st-warn">rolled back</span>`, // a word, not only a colour
		`href="http://nomad:4646/ui/jobs/api@default"`,
		`href="https://github.com/acme/jobs/commit/aaa000"`,
		`Count: &#34;1&#34; =&gt; &#34;2&#34;`, // the plan's diff
		`id="history"`, "update",
		`<a href="/jobs/default/db">default/db</a>`, // what it is registered after
	} {
		if !strings.Contains(body, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	if resp, _ := p.get("/jobs/default/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown job: %s, want 404", resp.Status)
	}
}

func TestPage_SetsSecurityHeaders(t *testing.T) {
	p := newPage(t, doc(), bus(t), nil)
	for _, path := range []string{"/", "/jobs/default/web", "/assets/app.js", "/assets/app.css"} {
		resp, _ := p.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: Content-Security-Policy allows inline code: %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", path)
		}
	}
}

func TestPage_HasNoInlineScriptOrStyle(t *testing.T) {
	p := newPage(t, doc(), bus(t, failedEvent()), func(*http.Request, string) (int, string) { return 202, "" })
	for _, path := range []string{"/", "/jobs/default/api"} {
		_, body := p.get(path)
		for _, bad := range []string{"<style", " style=", " onclick=", " onload=", "javascript:"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s holds %q, which the CSP would block", path, bad)
			}
		}
	}
}

func TestPage_SyncNow(t *testing.T) {
	const token = "s3cret-token-value"
	var got []string
	sync := func(_ *http.Request, presented string) (int, string) {
		got = append(got, presented)
		if presented != token {
			return http.StatusUnauthorized, "token does not match --api-token"
		}
		return http.StatusAccepted, "sync triggered"
	}
	p := newPage(t, doc(), bus(t), sync)
	_, body := p.get("/")
	if !strings.Contains(body, `action="/sync"`) {
		t.Fatal("no sync form although a token is set")
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct{ token, want string }{{token, "/?sync=started"}, {"wrong", "/?sync=refused"}, {"", "/?sync=refused"}} {
		resp, err := noRedirect.PostForm(p.srv.URL+"/sync", url.Values{"token": {tc.token}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
			t.Errorf("POST /sync with %q: %s to %q, want 303 to %q", tc.token, resp.Status, resp.Header.Get("Location"), tc.want)
		}
		if strings.Contains(string(b), token) || strings.Contains(resp.Header.Get("Location"), token) {
			t.Errorf("POST /sync echoed the token")
		}
	}
	if len(got) != 3 || got[0] != token {
		t.Errorf("Sync got tokens %q", got)
	}
	_, body = p.get("/?sync=started")
	if strings.Contains(body, token) {
		t.Error("the page shows the token")
	}
	if !strings.Contains(body, "Sync started.") {
		t.Error("the page does not say the sync started")
	}
	if resp, _ := p.get("/sync"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /sync: %s, want 405", resp.Status)
	}
}

func TestPage_NoActionWithoutToken(t *testing.T) {
	p := newPage(t, doc(), bus(t), nil)
	_, body := p.get("/")
	if strings.Contains(body, `action="/sync"`) || strings.Contains(body, "Sync now") {
		t.Error("sync form shown without --api-token")
	}
	resp, err := http.PostForm(p.srv.URL+"/sync", url.Values{"token": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther || resp.StatusCode < 400 {
		t.Errorf("POST /sync without a token configured: %s, want refused", resp.Status)
	}
}

func TestPage_ListsTroubleFirstWithWords(t *testing.T) {
	p := newPage(t, doc(), bus(t), nil)
	_, body := p.get("/")
	// The file that is no job comes first, then api rolled back, the
	// drifted job out of sync, web baking.
	order := []string{`data-job="/" data-status="error"`, `data-job="default/api" data-status="rolled back"`, `data-status="out of sync"`, `data-job="default/web" data-status="rolling out"`}
	last := -1
	for _, want := range order {
		i := strings.Index(body, want)
		if i < 0 {
			t.Fatalf("page lacks row %q", want)
		}
		if i < last {
			t.Errorf("row %q is not in urgency order", want)
		}
		last = i
	}
	if !strings.Contains(body, `data-job="default/db" data-status="healthy"`) {
		t.Error("a job in sync whose rollout was healthy is not shown healthy")
	}
	for _, want := range []string{"baking", "20s left", "broken.nomad.hcl:3,1: Unclosed configuration block", ">rolled back</span>", ">out of sync</span>",
		"in 1s (every 1m); at once on a push or a change in the cluster"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	_, filtered := p.get("/?state=" + url.QueryEscape("rolled back"))
	if strings.Contains(filtered, `data-job="default/web"`) || !strings.Contains(filtered, `data-job="default/api"`) {
		t.Error("state filter without JavaScript did not keep only the rolled-back job")
	}
	_, filtered = p.get("/?q=web.nomad")
	if strings.Contains(filtered, `data-job="default/api"`) || !strings.Contains(filtered, `data-job="default/web"`) {
		t.Error("text filter without JavaScript did not keep only web")
	}
}

func TestPage_StandbySaysItShowsTheLeader(t *testing.T) {
	d := doc()
	d["ha"] = map[string]any{"role": "standby", "id": "replica-b", "leader": map[string]any{"id": "replica-a", "advertise": "http://a:8680"}}
	p := newPage(t, d, bus(t), nil)
	_, body := p.get("/")
	if !strings.Contains(body, "Standby replica replica-b: showing the view of the leader replica-a.") {
		t.Errorf("standby page does not say whose view it shows")
	}
	if !strings.Contains(body, `the leader's are on <a href="http://a:8680/">its page</a>`) {
		t.Errorf("standby page does not point to the leader's events")
	}
}

// TestPage_ShowsSuspensionsAndWindows: a banner for the instance's
// suspension and for a window that holds, on every page; a marker on the
// rows of suspended jobs, saying who and why.
func TestPage_ShowsSuspensionsAndWindows(t *testing.T) {
	d := doc()
	d["controls"] = map[string]any{
		"suspensions": map[string]any{
			"instance": map[string]any{"by": "bob", "at": now.Add(-5 * time.Minute), "reason": "incident " + xss},
			"jobs":     map[string]any{"default/db": map[string]any{"by": "alice", "at": now.Add(-time.Hour), "reason": "migration"}},
		},
		"held": "deny window until 2026-11-30T07:00:00Z",
	}
	p := newPage(t, d, bus(t), nil)
	for _, path := range []string{"/", "/jobs/default/api"} {
		_, body := p.get(path)
		for _, want := range []string{
			`id="suspended">Suspended by bob <time datetime="2026-11-27T11:55:00Z">5m00s ago</time>: incident &lt;script&gt;`,
			`id="window">Held: deny window until 2026-11-30T07:00:00Z.`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s has no %q", path, want)
			}
		}
	}
	_, body := p.get("/")
	if n := strings.Count(body, ">suspended</span>"); n != 1 || !strings.Contains(body, `title="suspended by alice at 2026-11-27T11:00:00Z: migration">suspended</span>`) {
		t.Errorf("%d suspended markers; want one on db, saying who and why", n)
	}
	_, body = newPage(t, doc(), bus(t), nil).get("/")
	if strings.Contains(body, `id="suspended"`) || strings.Contains(body, `id="window"`) || strings.Contains(body, ">suspended</span>") {
		t.Error("a page with nothing suspended shows a suspension")
	}
}

func TestPage_StatusErrorIsShown(t *testing.T) {
	u, err := New(Options{Status: func(context.Context) ([]byte, error) { return nil, fmt.Errorf("leader gone <b>") }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "leader gone &lt;b&gt;") {
		t.Errorf("status error not shown: %d\n%s", rec.Code, rec.Body)
	}
}

func TestRepoLinks(t *testing.T) {
	for _, tc := range []struct{ repo, repoURL, commit string }{
		{"https://github.com/acme/jobs.git", "https://github.com/acme/jobs", "https://github.com/acme/jobs/commit/abc"},
		{"git@github.com:acme/jobs.git", "https://github.com/acme/jobs", "https://github.com/acme/jobs/commit/abc"},
		{"ssh://git@gitlab.com:22/acme/jobs.git", "https://gitlab.com/acme/jobs", "https://gitlab.com/acme/jobs/-/commit/abc"},
		{"https://user:tok@github.com/acme/jobs", "https://github.com/acme/jobs", "https://github.com/acme/jobs/commit/abc"},
		{"/srv/git/jobs", "", ""},
		{"https://git.example.com/jobs.git", "", ""},
	} {
		l := newRepoLinks(tc.repo)
		if l.repo() != tc.repoURL || l.commit("abc") != tc.commit {
			t.Errorf("%s: links %q, %q; want %q, %q", tc.repo, l.repo(), l.commit("abc"), tc.repoURL, tc.commit)
		}
	}
}

func TestEventStream_JSONAfter(t *testing.T) {
	b := bus(t, events.SyncStart{}, events.SyncDone{}, events.RolloutStarted{Subject: events.Subject{Job: xss}})
	srv := httptest.NewServer(NewEventStream(b))
	defer srv.Close()
	for _, tc := range []struct {
		query string
		want  []uint64
	}{{"", []uint64{1, 2, 3}}, {"?after=1", []uint64{2, 3}}, {"?after=3", nil}} {
		resp, err := http.Get(srv.URL + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var got []api.Event
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %v, %s", tc.query, err, resp.Header.Get("Content-Type"))
		}
		var seqs []uint64
		for _, e := range got {
			seqs = append(seqs, e.Seq)
		}
		if fmt.Sprint(seqs) != fmt.Sprint(tc.want) {
			t.Errorf("GET %s: seqs %v, want %v", tc.query, seqs, tc.want)
		}
	}
	resp, err := http.Get(srv.URL + "?after=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("after=x: %s, want 400", resp.Status)
	}
}

func TestEventStream_SSEResumesAndFollows(t *testing.T) {
	b := bus(t, events.SyncStart{}, events.SyncDone{Commit: "c1"})
	s := NewEventStream(b)
	srv := httptest.NewServer(s)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	next := func() (id, data string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && id != "":
				return id, data
			}
		}
	}
	id, data := next()
	var e api.Event
	if err := json.Unmarshal([]byte(data), &e); err != nil || id != "2" || e.Seq != 2 || e.Name != "sync.done" || e.Fields["commit"] != "c1" {
		t.Fatalf("first frame id %q data %s (%v); want event 2, sync.done", id, data, err)
	}
	// Logged after the client connected: it arrives live.
	emit(b, events.RolloutHealthy{Subject: events.Subject{Job: "web"}})
	id, data = next()
	if id != "3" || !strings.Contains(data, `"event":"rollout.healthy"`) {
		t.Fatalf("live frame id %q data %s", id, data)
	}
	// Stop (server shutdown) ends the stream.
	s.Stop()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
}

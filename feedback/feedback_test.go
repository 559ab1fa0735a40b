package feedback

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/forge"
	"github.com/drover-dev/drover/forge/forgetest"
)

const (
	good = "1111111111111111111111111111111111111111"
	bad  = "2222222222222222222222222222222222222222"
)

// limitOnly is a Forge whose only use here is its description limit.
type limitOnly struct{}

func (limitOnly) UpsertComment(context.Context, int, string, string) (string, bool, error) {
	return "", false, nil
}
func (limitOnly) SetStatus(context.Context, forge.Status) error { return nil }
func (limitOnly) DescriptionLimit() int                         { return 140 }

var t0 = time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)

func ev(name string, at time.Duration, fields map[string]any) events.Event {
	return events.Event{Name: name, Time: t0.Add(at), Fields: fields}
}

func job(commit string, extra map[string]any) map[string]any {
	f := map[string]any{"job": "web", "namespace": "default", "commit": commit}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

var failedEvent = ev("rollout.failed", 0, job(bad, map[string]any{
	"kind": "deploy", "reason": "check failing", "rollback_to": good,
	"problems": []any{
		map[string]any{"kind": "allocation", "alloc": "a1"},
		map[string]any{"kind": "check", "check": "service: \"web\" check", "status": "critical",
			"output": "HTTP GET http://127.0.0.1:23456/health: 500 Internal Server Error Output: " + strings.Repeat("unhealthy ", 30)},
	},
}))

func TestStatus_PendingSuccessFailureErrorOncePerChange(t *testing.T) {
	f := New(Options{Instance: "prod", PublicURL: "https://drover.example/", Statuses: map[string]forge.Forge{"": limitOnly{}}})
	type want struct{ state, desc string }
	for _, tc := range []struct {
		e    events.Event
		want *want
	}{
		{ev("rollout.started", 0, job(good, map[string]any{"kind": "deploy"})), &want{"pending", "Deploying"}},
		{ev("rollout.baking", 0, job(good, nil)), nil},
		{ev("rollout.healthy", 0, job(good, map[string]any{"kind": "deploy"})), &want{"success", "healthy through the bake"}},
		{ev("rollout.started", 0, job(bad, map[string]any{"kind": "deploy"})), &want{"pending", "Deploying"}},
		{failedEvent, &want{"failure", `Rolled back to 11111111: check service: "web" check critical: HTTP GET`}},
		// The rollback's own rollout runs the good commit: its status stays.
		{ev("rollout.started", 0, job(good, map[string]any{"kind": "rollback"})), nil},
		{ev("rollout.healthy", 0, job(good, map[string]any{"kind": "rollback"})), nil},
		{ev("job.error", 0, job("3333333333333333333333333333333333333333", map[string]any{"error": "register: 400 bad job"})), &want{"error", "Not deployed: register: 400 bad job"}},
		// Every cycle logs it again; the status is already set.
		{ev("job.error", 0, job("3333333333333333333333333333333333333333", map[string]any{"error": "register: 400 bad job"})), nil},
		{ev("job.conflict", 0, job("4444444444444444444444444444444444444444", nil)), &want{"error", "Register refused"}},
		{ev("sync.done", 0, map[string]any{"commit": good}), nil},
	} {
		got, _ := f.Handle(tc.e)
		switch {
		case tc.want == nil && len(got) != 0:
			t.Errorf("%s %v: status %+v, want none", tc.e.Name, tc.e.Fields["kind"], got)
		case tc.want != nil && (len(got) != 1 || got[0].State != tc.want.state || !strings.Contains(got[0].Description, tc.want.desc)):
			t.Errorf("%s: status %+v, want %s with %q", tc.e.Name, got, tc.want.state, tc.want.desc)
		case tc.want != nil:
			s := got[0]
			if s.Context != "drover/prod/web" || s.TargetURL != "https://drover.example/jobs/default/web" || len([]rune(s.Description)) > 140 {
				t.Errorf("%s: status %+v", tc.e.Name, s)
			}
		}
	}
}

func TestStatus_ContextNamesTheNamespaceWhenNotDefault(t *testing.T) {
	f := New(Options{Instance: "prod", Statuses: map[string]forge.Forge{"": limitOnly{}}})
	got, _ := f.Handle(ev("rollout.started", 0, map[string]any{"job": "api", "namespace": "team-a", "commit": good, "kind": "deploy"}))
	if len(got) != 1 || got[0].Context != "drover/prod/team-a/api" || got[0].TargetURL != "" {
		t.Errorf("status %+v", got)
	}
}

func TestMessage_RollbackSaysWhatJobCommitWhyAndWhatDroverDid(t *testing.T) {
	repo, _ := forge.ParseRepoURL("https://github.com/acme/deploys.git")
	f := New(Options{Instance: "prod", Repo: repo})
	m, ok := f.message(failedEvent)
	if !ok || m.Title != "Rollout failed" || m.Commit != bad || !strings.Contains(m.Why, "500 Internal Server Error") ||
		!strings.Contains(m.Action, "rolling back to the last good commit 11111111 (https://github.com/acme/deploys/commit/"+good+")") ||
		m.CommitURL != "https://github.com/acme/deploys/commit/"+bad {
		t.Errorf("rollout.failed → %+v", m)
	}
	m, ok = f.message(ev("rollback.applied", 0, job(good, map[string]any{"from_commit": bad, "to_commit": good, "reason": "check failing"})))
	if !ok || m.Title != "Rolled back" || m.Commit != bad || m.RolledBackTo != good || !strings.Contains(m.Action, "11111111") {
		t.Errorf("rollback.applied → %+v", m)
	}
	if _, ok := f.message(ev("rollout.failed", 0, job(good, map[string]any{"kind": "rollback"}))); ok {
		t.Error("a rollback's failed rollout is notified twice (rollback.failed says it)")
	}
	if _, ok := f.message(ev("leader.lost", 0, map[string]any{"reason": "stopped"})); ok {
		t.Error("a clean shutdown's leader.lost is notified")
	}
	for _, name := range []string{"rollback.failed", "job.quarantined", "job.conflict", "leader.acquired", "leader.lost"} {
		if m, ok := f.message(ev(name, 0, job(bad, nil))); !ok || m.Title == "" {
			t.Errorf("%s not notified: %+v", name, m)
		}
	}
	for _, name := range []string{"rollout.started", "rollout.healthy", "job.applied", "sync.start"} {
		if _, ok := f.message(ev(name, 0, job(bad, nil))); ok {
			t.Errorf("%s notified; it is routine", name)
		}
	}
}

func TestMessage_DriftOncePerJobUntilItChanges(t *testing.T) {
	f := New(Options{Instance: "prod"})
	drift := func(changes ...any) bool {
		_, ok := f.message(ev("job.drift", 0, job(good, map[string]any{"changes": changes})))
		return ok
	}
	if !drift("Count: 1 => 3") || drift("Count: 1 => 3") || !drift("Count: 1 => 4") || drift("Count: 1 => 4") {
		t.Error("drift not notified exactly once per distinct difference")
	}
	// Registering git's spec undoes the drift: the same drift again is news.
	f.message(ev("job.applied", 0, job(good, map[string]any{"class": "drift"})))
	if !drift("Count: 1 => 4") {
		t.Error("the same drift after it was undone is not notified")
	}
}

func TestMessage_SyncFailingPastTheThresholdThenRecovery(t *testing.T) {
	f := New(Options{Instance: "prod", FailingAfter: 10 * time.Minute})
	failed := func(at time.Duration) events.Event {
		return ev("sync.done", at, map[string]any{"result": "failed", "step": "fetch", "error": "git fetch: connection refused", "retry_in": "1m0s"})
	}
	var sent []string
	for _, e := range []events.Event{
		failed(0), failed(5 * time.Minute), failed(11 * time.Minute), failed(13 * time.Minute),
		ev("sync.done", 14*time.Minute, map[string]any{"commit": good}),
		ev("sync.done", 15*time.Minute, map[string]any{"commit": good}),
		failed(16 * time.Minute), ev("sync.done", 17*time.Minute, map[string]any{"commit": good}),
	} {
		if m, ok := f.message(e); ok {
			sent = append(sent, m.Title+"@"+e.Time.Sub(t0).String())
			if m.Title == "Sync failing" && !strings.Contains(m.Why, "fetch: git fetch: connection refused") {
				t.Errorf("failing message %+v", m)
			}
		}
	}
	if strings.Join(sent, ",") != "Sync failing@11m0s,Syncing again@14m0s" {
		t.Errorf("sent %v", sent)
	}
}

// hanging is a Forge whose every status call hangs until its context ends.
type hanging struct {
	limitOnly
	calls chan struct{}
}

func (h hanging) SetStatus(ctx context.Context, _ forge.Status) error {
	h.calls <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

func TestRun_HangingForgeNeverHoldsTheFeed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := hanging{calls: make(chan struct{}, 1000)}
	f := New(Options{Instance: "prod", Statuses: map[string]forge.Forge{"": h}})
	feed := make(chan events.Event)
	done := make(chan struct{})
	go func() { f.Run(ctx, feed); close(done) }()
	// Unbuffered: each send returns only once Run has taken the event.
	deadline := time.After(10 * time.Second)
	for i := range 500 {
		e := ev("rollout.started", 0, map[string]any{"job": fmt.Sprintf("job-%d", i), "commit": good, "kind": "deploy"})
		select {
		case feed <- e:
		case <-deadline:
			t.Fatalf("Run stopped taking events after %d while the forge hangs", i)
		}
	}
	select {
	case <-h.calls:
	case <-deadline:
		t.Fatal("the forge was never called")
	}
	close(feed)
	<-done
}

// TestRun_EachSourceSetsStatusesInItsOwnRepo: with many sources, a job's
// commit status goes to the repository of the source it comes from; a
// source with no forge sets none.
func TestRun_EachSourceSetsStatusesInItsOwnRepo(t *testing.T) {
	const token = "ghp-test"
	repos := map[string]*forgetest.Server{
		"web": forgetest.NewGitHub(t, "acme/web", token),
		"db":  forgetest.NewGitHub(t, "acme/db", token),
	}
	statuses := map[string]forge.Forge{}
	for name, srv := range repos {
		fg, err := forge.New(forge.GitHub, forge.Options{Repo: "acme/" + name, Token: token, APIURL: srv.APIURL()})
		if err != nil {
			t.Fatal(err)
		}
		statuses[name] = fg
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := New(Options{Instance: "prod", Statuses: statuses})
	feed := make(chan events.Event, 3)
	for _, src := range []string{"web", "db", "docs"} {
		feed <- ev("rollout.started", 0, map[string]any{"job": src + "-job", "commit": good, "kind": "deploy", "source": src})
	}
	close(feed)
	f.Run(ctx, feed)
	for name, srv := range repos {
		deadline := time.Now().Add(10 * time.Second)
		for len(srv.Statuses()) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		got := srv.Statuses()
		if len(got) != 1 || got[0].Context != "drover/prod/"+name+"-job" || got[0].State != "pending" {
			t.Errorf("%s's repo got %+v; want its own job's pending status only", name, got)
		}
		for _, p := range srv.Problems() {
			t.Errorf("%s: bad request: %s", name, p)
		}
	}
}

package feedback

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
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

func ev(at time.Duration, e events.Event) events.Entry {
	return events.Entry{Time: t0.Add(at), Level: events.LevelOf(e), Event: e}
}

func job(commit string) events.Subject {
	return events.Subject{Job: "web", Namespace: "default", Commit: commit}
}

var failedEvent = ev(0, events.RolloutFailed{Subject: job(bad),
	Kind: "deploy", Reason: "check failing", RollbackTo: good,
	Problems: []api.Problem{
		{Kind: "allocation", Alloc: "a1"},
		{Kind: "check", Check: "service: \"web\" check", Status: "critical",
			Output: "HTTP GET http://127.0.0.1:23456/health: 500 Internal Server Error Output: " + strings.Repeat("unhealthy ", 30)},
	},
})

func TestStatus_PendingSuccessFailureErrorOncePerChange(t *testing.T) {
	f := New(Options{Instance: "prod", PublicURL: "https://drover.example/", Statuses: map[string]forge.Forge{"": limitOnly{}}})
	type want struct{ state, desc string }
	for _, tc := range []struct {
		e    events.Entry
		want *want
	}{
		{ev(0, events.RolloutStarted{Subject: job(good), Kind: "deploy"}), &want{"pending", "Deploying"}},
		{ev(0, events.RolloutBaking{Subject: job(good)}), nil},
		{ev(0, events.RolloutHealthy{Subject: job(good), Kind: "deploy"}), &want{"success", "healthy through the bake"}},
		{ev(0, events.RolloutStarted{Subject: job(bad), Kind: "deploy"}), &want{"pending", "Deploying"}},
		{failedEvent, &want{"failure", `Rolled back to 11111111: check service: "web" check critical: HTTP GET`}},
		// The rollback's own rollout runs the good commit: its status stays.
		{ev(0, events.RolloutStarted{Subject: job(good), Kind: "rollback"}), nil},
		{ev(0, events.RolloutHealthy{Subject: job(good), Kind: "rollback"}), nil},
		{ev(0, events.JobError{Subject: job("3333333333333333333333333333333333333333"), Error: "register: 400 bad job"}), &want{"error", "Not deployed: register: 400 bad job"}},
		// Every cycle logs it again; the status is already set.
		{ev(0, events.JobError{Subject: job("3333333333333333333333333333333333333333"), Error: "register: 400 bad job"}), nil},
		{ev(0, events.JobConflict{Subject: job("4444444444444444444444444444444444444444")}), &want{"error", "Register refused"}},
		{ev(0, events.SyncDone{Commit: good}), nil},
	} {
		got, _ := f.Handle(tc.e)
		switch {
		case tc.want == nil && len(got) != 0:
			t.Errorf("%+v: status %+v, want none", tc.e.Event, got)
		case tc.want != nil && (len(got) != 1 || got[0].State != tc.want.state || !strings.Contains(got[0].Description, tc.want.desc)):
			t.Errorf("%s: status %+v, want %s with %q", tc.e.Name(), got, tc.want.state, tc.want.desc)
		case tc.want != nil:
			s := got[0]
			if s.Context != "drover/prod/web" || s.TargetURL != "https://drover.example/jobs/default/web" || len([]rune(s.Description)) > 140 {
				t.Errorf("%s: status %+v", tc.e.Name(), s)
			}
		}
	}
}

func TestStatus_ContextNamesTheNamespaceWhenNotDefault(t *testing.T) {
	f := New(Options{Instance: "prod", Statuses: map[string]forge.Forge{"": limitOnly{}}})
	got, _ := f.Handle(ev(0, events.RolloutStarted{Subject: events.Subject{Job: "api", Namespace: "team-a", Commit: good}, Kind: "deploy"}))
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
	m, ok = f.message(ev(0, events.RollbackApplied{Subject: job(good), FromCommit: bad, ToCommit: good, Reason: "check failing"}))
	if !ok || m.Title != "Rolled back" || m.Commit != bad || m.RolledBackTo != good || !strings.Contains(m.Action, "11111111") {
		t.Errorf("rollback.applied → %+v", m)
	}
	if _, ok := f.message(ev(0, events.RolloutFailed{Subject: job(good), Kind: "rollback"})); ok {
		t.Error("a rollback's failed rollout is notified twice (rollback.failed says it)")
	}
	if _, ok := f.message(ev(0, events.LeaderLost{Reason: "stopped"})); ok {
		t.Error("a clean shutdown's leader.lost is notified")
	}
	for _, e := range []events.Event{events.RollbackFailed{Subject: job(bad)}, events.JobQuarantined{Subject: job(bad)},
		events.JobConflict{Subject: job(bad)}, events.LeaderAcquired{}, events.LeaderLost{}} {
		if m, ok := f.message(ev(0, e)); !ok || m.Title == "" {
			t.Errorf("%s not notified: %+v", events.NameOf(e), m)
		}
	}
	for _, e := range []events.Event{events.RolloutStarted{Subject: job(bad)}, events.RolloutHealthy{Subject: job(bad)},
		events.JobApplied{Subject: job(bad)}, events.SyncStart{}} {
		if _, ok := f.message(ev(0, e)); ok {
			t.Errorf("%s notified; it is routine", events.NameOf(e))
		}
	}
}

func TestMessage_DriftOncePerJobUntilItChanges(t *testing.T) {
	f := New(Options{Instance: "prod"})
	drift := func(changes ...string) bool {
		_, ok := f.message(ev(0, events.JobDrift{JobChange: events.JobChange{Subject: job(good), Changes: changes}}))
		return ok
	}
	if !drift("Count: 1 => 3") || drift("Count: 1 => 3") || !drift("Count: 1 => 4") || drift("Count: 1 => 4") {
		t.Error("drift not notified exactly once per distinct difference")
	}
	// Registering git's spec undoes the drift: the same drift again is news.
	f.message(ev(0, events.JobApplied{Subject: job(good), Class: "drift"}))
	if !drift("Count: 1 => 4") {
		t.Error("the same drift after it was undone is not notified")
	}
}

func TestMessage_SyncFailingPastTheThresholdThenRecovery(t *testing.T) {
	f := New(Options{Instance: "prod", FailingAfter: 10 * time.Minute})
	failed := func(at time.Duration) events.Entry {
		return ev(at, events.SyncDone{Result: "failed", Step: "fetch", Error: "git fetch: connection refused", RetryIn: time.Minute})
	}
	var sent []string
	for _, e := range []events.Entry{
		failed(0), failed(5 * time.Minute), failed(11 * time.Minute), failed(13 * time.Minute),
		ev(14*time.Minute, events.SyncDone{Commit: good}),
		ev(15*time.Minute, events.SyncDone{Commit: good}),
		failed(16 * time.Minute), ev(17*time.Minute, events.SyncDone{Commit: good}),
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
	feed := make(chan events.Entry)
	done := make(chan struct{})
	go func() { f.Run(ctx, feed); close(done) }()
	// Unbuffered: each send returns only once Run has taken the event.
	deadline := time.After(10 * time.Second)
	for i := range 500 {
		e := ev(0, events.RolloutStarted{Subject: events.Subject{Job: fmt.Sprintf("job-%d", i), Commit: good}, Kind: "deploy"})
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
	feed := make(chan events.Entry, 3)
	for _, src := range []string{"web", "db", "docs"} {
		feed <- ev(0, events.RolloutStarted{Subject: events.Subject{Job: src + "-job", Commit: good, Source: src}, Kind: "deploy"})
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

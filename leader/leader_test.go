package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/internal/testcluster"
	"github.com/drover-dev/drover/internal/testutil"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/rs/zerolog"
)

// These tests run against a real Consul dev agent each (it starts in well
// under a second), so one can be restarted without disturbing the others.
// Sessions use Consul's minimum TTL, 10s.

const (
	prefix = "drover/test/"
	key    = prefix + "leader"
	ttl    = MinTTL
)

// logs captures one elector's events.
type logs struct{ testutil.Buffer }

// waitEvent waits until an event named name with the given fields is
// logged, and returns it.
func (l *logs) waitEvent(t *testing.T, name string, fields map[string]string) map[string]any {
	t.Helper()
	var found map[string]any
	testutil.WaitFor(t, 15*time.Second, name+" "+jsonOf(fields), func() (bool, string) {
		evs := l.Events(name)
		for _, ev := range evs {
			match := true
			for k, v := range fields {
				match = match && ev[k] == v
			}
			if match {
				found = ev
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s events %v", name, evs)
	})
	return found
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// waitClosed waits for ch to be closed.
func waitClosed(t *testing.T, ch <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// elector returns an elector for id on the test key, and its log.
func elector(t *testing.T, c *consulapi.Client, id string) (*Elector, *logs) {
	t.Helper()
	l := &logs{}
	e, err := New(c, Options{
		Key:    key,
		TTL:    ttl,
		Holder: Holder{Instance: "test", ID: id, Advertise: "http://" + id + ":8080"},
		Logger: zerolog.New(l).Level(zerolog.DebugLevel),
		Retry:  func(int) time.Duration { return 200 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("log of %s:\n%s", id, l.String())
		}
	})
	return e, l
}

type campaignResult struct {
	id   string
	term *Term
	err  error
}

// campaign runs e.Campaign in the background and sends its outcome.
func campaign(ctx context.Context, e *Elector, out chan<- campaignResult) {
	go func() {
		term, err := e.Campaign(ctx)
		out <- campaignResult{e.opts.Holder.ID, term, err}
	}()
}

func receive(t *testing.T, ch <-chan campaignResult, timeout time.Duration) campaignResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("campaign of %s: %v", r.id, r.err)
		}
		return r
	case <-time.After(timeout):
		t.Fatalf("no campaign won within %s", timeout)
		return campaignResult{}
	}
}

// lockSession is the session holding the lock key, "" when none.
func lockSession(t *testing.T, c *consulapi.Client) string {
	t.Helper()
	p, _, err := c.KV().Get(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil {
		return ""
	}
	return p.Session
}

func TestElection_OneLeaderStandbySeesItResignHandsOver(t *testing.T) {
	t.Parallel()
	c := testcluster.StartConsulOnlyT(t).Client()
	a, alog := elector(t, c, "a")
	b, blog := elector(t, c, "b")
	logsOf := map[string]*logs{"a": alog, "b": blog}
	ctx := t.Context()

	results := make(chan campaignResult, 2)
	campaign(ctx, a, results)
	campaign(ctx, b, results)
	won := receive(t, results, 15*time.Second)
	loser := map[string]string{"a": "b", "b": "a"}[won.id]
	t.Cleanup(won.term.Resign)

	logsOf[loser].waitEvent(t, "leader.standby", map[string]string{"leader": won.id, "leader_advertise": "http://" + won.id + ":8080"})
	select {
	case r := <-results:
		t.Fatalf("%s also won a campaign (%v) while %s holds the lock", r.id, r.err, won.id)
	default:
	}
	if got := lockSession(t, c); got != won.term.Session() {
		t.Errorf("lock held by session %q; want the winner's %q", got, won.term.Session())
	}
	logsOf[won.id].waitEvent(t, "leader.acquired", map[string]string{"id": won.id, "session": won.term.Session()})
	if !won.term.Valid() {
		t.Error("the winner's term is not valid")
	}
	for _, e := range []*Elector{a, b} {
		h, err := e.Leader(ctx)
		if err != nil || h == nil || h.ID != won.id || h.Instance != "test" || h.Since.IsZero() {
			t.Errorf("Leader() of %s = %+v, %v; want %s with its since", e.opts.Holder.ID, h, err, won.id)
		}
	}

	start := time.Now()
	won.term.Resign()
	next := receive(t, results, 5*time.Second)
	took := time.Since(start)
	t.Cleanup(next.term.Resign)
	if next.id != loser || took > 2*time.Second {
		t.Errorf("%s took over %s after the resignation; want %s within about a second", next.id, took, loser)
	}
	if won.term.Valid() {
		t.Error("a resigned term is still valid")
	}
	waitClosed(t, won.term.Lost(), time.Second, "Lost of the resigned term")
	if ev := logsOf[won.id].waitEvent(t, "leader.lost", map[string]string{"reason": "resigned"}); ev["level"] != "info" {
		t.Errorf("resignation logged at %v; want info", ev["level"])
	}
	if got := lockSession(t, c); got != next.term.Session() {
		t.Errorf("lock held by session %q; want the new leader's %q", got, next.term.Session())
	}

	// A campaign given up leaves no session behind.
	third, tlog := elector(t, c, "c")
	cctx, cancel := context.WithCancel(ctx)
	giveUp := make(chan campaignResult, 1)
	campaign(cctx, third, giveUp)
	tlog.waitEvent(t, "leader.standby", map[string]string{"leader": next.id})
	// The lock key's watch runs beside the attempt, so standby can be
	// logged before the attempt's session exists: wait for the session.
	var session string
	testutil.WaitFor(t, 5*time.Second, "the third campaign's session", func() (bool, string) {
		third.mu.Lock()
		session = third.own
		third.mu.Unlock()
		return session != "", "no session yet"
	})
	cancel()
	select {
	case r := <-giveUp:
		if !errors.Is(r.err, context.Canceled) || r.term != nil {
			t.Errorf("cancelled campaign = %v, %v; want context.Canceled", r.term, r.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a cancelled campaign did not return")
	}
	if s, _, err := c.Session().Info(session, nil); err != nil || s != nil {
		t.Errorf("session of the cancelled campaign = %+v, %v; want it destroyed", s, err)
	}
}

// A frozen process, or a renewal that hangs: the term stops being valid
// exactly a TTL after the last renewal was sent, with no call to Consul,
// and ends.
func TestTerm_LeaseEndsATTLAfterTheLastRenewal(t *testing.T) {
	t.Parallel()
	c := testcluster.StartConsulOnlyT(t).Client()
	e, log := elector(t, c, "a")
	var frozen atomic.Bool
	blocked := make(chan struct{})
	var once sync.Once
	e.beforeRenew = func(ctx context.Context) {
		if frozen.Load() {
			once.Do(func() { close(blocked) })
			<-ctx.Done()
		}
	}
	results := make(chan campaignResult, 1)
	campaign(t.Context(), e, results)
	term := receive(t, results, 15*time.Second).term
	t.Cleanup(term.Resign)

	frozen.Store(true)
	waitClosed(t, blocked, ttl, "the renewals to stop")
	last := term.r.last() // no renewal is under way: the only renewer is blocked
	if !term.Valid() {
		t.Fatal("term invalid before its lease ran out")
	}
	var invalidAt time.Time
	testutil.WaitFor(t, 2*ttl, "the term to turn invalid", func() (bool, string) {
		invalidAt = time.Now()
		return !term.Valid(), "valid"
	})
	if idle := invalidAt.Sub(last); idle < ttl || idle > ttl+time.Second {
		t.Errorf("term turned invalid %s after the last renewal; want just past the TTL %s", idle, ttl)
	}
	waitClosed(t, term.Lost(), time.Second, "Lost after the lease expired")
	ev := log.waitEvent(t, "leader.lost", map[string]string{"id": "a"})
	if r, _ := ev["reason"].(string); !strings.Contains(r, "lease expired") || ev["level"] != "warn" {
		t.Errorf("leader.lost = %v; want a warning that the lease expired", ev)
	}
	// The lock a lost term may still hold in Consul is given up.
	term.Resign()
	if got := lockSession(t, c); got != "" {
		t.Errorf("lock still held by %q after the term ended", got)
	}
}

// Consul, not the agent's good intentions, refuses the state write of a
// leader whose session is gone.
func TestFenced_WriteRefusedOnceTheSessionIsDestroyed(t *testing.T) {
	t.Parallel()
	c := testcluster.StartConsulOnlyT(t).Client()
	e, log := elector(t, c, "a")
	results := make(chan campaignResult, 1)
	campaign(t.Context(), e, results)
	term := receive(t, results, 15*time.Second).term
	t.Cleanup(term.Resign)
	ctx := t.Context()

	kv := consul.Wrap(c).Fenced(key, term.Session())
	const stateKey = prefix + "jobs/default/web"
	ok, index, err := kv.CAS(ctx, stateKey, []byte("v1"), 0)
	if !ok || err != nil {
		t.Fatalf("fenced CAS while leader = %v, %v; want written", ok, err)
	}
	ledger := state.NewLedger(kv, prefix, state.LedgerOptions{})
	if err := ledger.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	api := jobs.Key{Namespace: "default", ID: "api"}
	if _, err := ledger.Update(ctx, api, func(j *state.Job) { j.LastGood = &state.Revision{Commit: "c1"} }); err != nil {
		t.Fatalf("ledger write while leader: %v", err)
	}

	if _, err := c.Session().Destroy(term.Session(), nil); err != nil {
		t.Fatal(err)
	}
	ok, _, err = kv.CAS(ctx, stateKey, []byte("v2"), index)
	if ok || !errors.Is(err, state.ErrFenced) {
		t.Fatalf("fenced CAS after the session was destroyed = %v, %v; want state.ErrFenced", ok, err)
	}
	if p, _, err := c.KV().Get(stateKey, nil); err != nil || p == nil || string(p.Value) != "v1" || p.ModifyIndex != index {
		t.Errorf("state key = %+v, %v; want v1 at index %d, untouched", p, err, index)
	}
	apiKey := prefix + "jobs/default/api"
	before, _, _ := c.KV().Get(apiKey, nil)
	if _, err := ledger.Update(ctx, api, func(j *state.Job) { j.LastGood = &state.Revision{Commit: "c2"} }); !errors.Is(err, state.ErrFenced) {
		t.Errorf("ledger write after the session was destroyed: %v; want state.ErrFenced", err)
	}
	if after, _, _ := c.KV().Get(apiKey, nil); before == nil || after == nil || after.ModifyIndex != before.ModifyIndex {
		t.Errorf("the ledger's key moved from %+v to %+v", before, after)
	}

	waitClosed(t, term.Lost(), 10*time.Second, "Lost after the session was destroyed")
	if term.Valid() {
		t.Error("term valid after it was lost")
	}
	if ev := log.waitEvent(t, "leader.lost", map[string]string{"id": "a"}); ev["level"] != "warn" {
		t.Errorf("leader.lost = %v; want a warning", ev)
	}
}

// Consul restarted (a dev agent comes back empty): the term ends, the
// electors keep campaigning through the outage, and one becomes leader.
func TestElection_RecoversAfterConsulRestarts(t *testing.T) {
	t.Parallel()
	cons := testcluster.StartConsulOnlyT(t)
	c := cons.Client()
	ctx, cancel := context.WithCancel(t.Context())
	terms := make(chan *Term, 4)
	var wg sync.WaitGroup
	var logged []*logs
	// Each elector campaigns as the agent does: again whenever its term
	// ends.
	for _, id := range []string{"a", "b"} {
		e, log := elector(t, c, id)
		logged = append(logged, log)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				term, err := e.Campaign(ctx)
				if err != nil {
					return
				}
				terms <- term
				select {
				case <-term.Lost():
				case <-ctx.Done():
					term.Resign()
					return
				}
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	var first *Term
	select {
	case first = <-terms:
	case <-time.After(15 * time.Second):
		t.Fatal("no elector became leader")
	}
	if err := cons.Stop(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, first.Lost(), 2*ttl, "the term to end with Consul down")
	testutil.WaitFor(t, 10*time.Second, "leader.error while Consul is down", func() (bool, string) {
		return len(logged[0].Events("leader.error"))+len(logged[1].Events("leader.error")) > 0, "no leader.error"
	})
	if err := cons.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var next *Term
	select {
	case next = <-terms:
	case <-time.After(30 * time.Second):
		t.Fatal("no elector became leader after Consul came back")
	}
	if !next.Valid() || lockSession(t, c) != next.Session() {
		t.Errorf("new term valid %v, session %s; lock held by %q", next.Valid(), next.Session(), lockSession(t, c))
	}
}

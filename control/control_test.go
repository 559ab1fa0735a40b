package control

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/drover-dev/drover/failure"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// memKV is a KV in memory; before, when set, runs before each CAS (another
// writer getting in between).
type memKV struct {
	mu     sync.Mutex
	pairs  map[string]state.Pair
	index  uint64
	before func(kv *memKV)
}

func newMemKV() *memKV { return &memKV{pairs: map[string]state.Pair{}} }

func (m *memKV) List(context.Context, string) ([]state.Pair, error) { return nil, nil }

func (m *memKV) Get(_ context.Context, key string) (*state.Pair, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pairs[key]
	if !ok {
		return nil, nil
	}
	return &p, nil
}

func (m *memKV) put(key string, value []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.index++
	m.pairs[key] = state.Pair{Key: key, Value: value, ModifyIndex: m.index}
}

func (m *memKV) CAS(_ context.Context, key string, value []byte, index uint64) (bool, uint64, error) {
	if b := m.before; b != nil {
		m.before = nil
		b(m)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pairs[key].ModifyIndex != index {
		return false, 0, nil
	}
	m.index++
	m.pairs[key] = state.Pair{Key: key, Value: value, ModifyIndex: m.index}
	return true, m.index, nil
}

func file(ns, id string) *jobs.File {
	return &jobs.File{Path: id + ".nomad.hcl", Job: &api.Job{ID: &id, Namespace: &ns}}
}

func key(ns, id string) jobs.Key { return jobs.Key{Namespace: ns, ID: id} }

var at = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestStore_TwoOperatorsNeverLoseEachOthersWrites(t *testing.T) {
	kv := newMemKV()
	st := NewStore(kv, "drover/x/suspend", time.Second)
	ctx := context.Background()
	if _, err := st.Suspend(ctx, []jobs.Key{key("default", "web")}, Suspension{By: "ann", At: at, Reason: "db migration"}); err != nil {
		t.Fatal(err)
	}
	// Bob's suspension lands between this read and this write.
	kv.before = func(kv *memKV) {
		b, _ := json.Marshal(Suspensions{Jobs: map[string]Suspension{
			"default/web": {By: "ann", At: at, Reason: "db migration"},
			"infra/cache": {By: "bob", At: at},
		}})
		kv.put("drover/x/suspend", b)
	}
	got, err := st.Suspend(ctx, nil, Suspension{By: "carol", At: at, Reason: "incident"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Instance == nil || got.Instance.By != "carol" || got.Jobs["infra/cache"].By != "bob" || got.Jobs["default/web"].By != "ann" {
		t.Fatalf("after the race: %+v", got)
	}
	got, err = st.Resume(ctx, []jobs.Key{key("default", "web")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Jobs["default/web"]; ok || got.Instance == nil {
		t.Fatalf("resume of one job: %+v", got)
	}
	got, err = st.Resume(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Instance != nil || got.Jobs["infra/cache"].By != "bob" {
		t.Fatalf("resume of the instance lifted a job's own suspension: %+v", got)
	}
	read, _, err := st.Read(ctx)
	if err != nil || read.Instance != nil || len(read.Jobs) != 1 {
		t.Fatalf("read back: %+v, %v", read, err)
	}
}

func TestStore_UnreadableDocumentIsAnError(t *testing.T) {
	kv := newMemKV()
	kv.put("k", []byte("{not json"))
	_, _, err := NewStore(kv, "k", time.Second).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "fix or delete the key") {
		t.Fatalf("err = %v", err)
	}
	// Retrying cannot fix it: it stalls, naming the key to fix.
	var corrupt *CorruptError
	st, ok := failure.StallOf(err)
	if !errors.As(err, &corrupt) || !ok || st.Reason() != "suspensions unreadable (fix or delete <state-prefix>suspend)" {
		t.Errorf("err = %#v, want a CorruptError in a stall naming <state-prefix>suspend", err)
	}
}

func TestParseJob(t *testing.T) {
	for _, tc := range []struct {
		in, ns string
		want   jobs.Key
		bad    bool
	}{
		{"web", "", key("default", "web"), false},
		{"web", "apps", key("apps", "web"), false},
		{"infra/cache", "apps", key("infra", "cache"), false},
		{"/web", "", jobs.Key{}, true},
		{"a/b/c", "", jobs.Key{}, true},
		{"", "", jobs.Key{}, true},
	} {
		got, err := ParseJob(tc.in, tc.ns)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseJob(%q, %q) = %v, %v", tc.in, tc.ns, got, err)
		}
	}
}

func held(set *jobs.Set) map[string]string {
	out := map[string]string{}
	for _, f := range set.Files {
		out[f.Key().ID] = f.Hold
	}
	return out
}

func TestHold(t *testing.T) {
	rollback := file("default", "api")
	rollback.Commit = "0123456789abcdef" // put back by Pin
	watched := file("default", "worker")
	watched.Hold = "rollout of commit abc (version 3) is being watched"
	set := func() *jobs.Set {
		return &jobs.Set{Revision: "r1", Files: []*jobs.File{file("default", "web"), rollback, watched, {Path: "bad.nomad.hcl", Err: context.DeadlineExceeded}}}
	}
	friday := mustWindow(t, "0 18 * * FRI 62h")
	saturday := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	web := Suspension{By: "ann", At: at, Reason: "db migration"}
	for _, tc := range []struct {
		name      string
		sus       *Suspensions
		opts      Options
		want      map[string]string
		noPrune   string
		keep      []jobs.Key
		untouched bool
	}{
		{name: "nothing", untouched: true},
		{name: "one job", sus: &Suspensions{Jobs: map[string]Suspension{"default/web": web}},
			want: map[string]string{"web": "suspended by ann at 2026-11-27T12:00:00Z: db migration", "api": "", "worker": watched.Hold},
			keep: []jobs.Key{key("default", "web")}},
		{name: "instance holds rollbacks too", sus: &Suspensions{Instance: &web},
			want:    map[string]string{"web": web.String(), "api": web.String(), "worker": web.String() + "; " + watched.Hold},
			noPrune: "instance " + web.String()},
		{name: "instance, rollbacks let through", sus: &Suspensions{Instance: &web}, opts: Options{RollbackWhileSuspended: true},
			want:    map[string]string{"web": web.String(), "api": "", "worker": web.String() + "; " + watched.Hold},
			noPrune: "instance " + web.String()},
		{name: "deny window lets rollbacks through", opts: Options{Windows: Windows{Deny: []Window{friday}}},
			want:    map[string]string{"web": "deny window until 2026-11-30T08:00:00Z", "api": "", "worker": "deny window until 2026-11-30T08:00:00Z; " + watched.Hold},
			noPrune: "deny window until 2026-11-30T08:00:00Z"},
		{name: "deny window holding rollbacks", opts: Options{Windows: Windows{Deny: []Window{friday}}, HoldRollbacksInWindows: true},
			want:    map[string]string{"web": "deny window until 2026-11-30T08:00:00Z", "api": "deny window until 2026-11-30T08:00:00Z", "worker": "deny window until 2026-11-30T08:00:00Z; " + watched.Hold},
			noPrune: "deny window until 2026-11-30T08:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := newMemKV()
			if tc.sus != nil {
				b, _ := json.Marshal(tc.sus)
				kv.put("s", b)
			}
			tc.opts.Now = func() time.Time { return saturday }
			tc.opts.Logger = zerolog.Nop()
			in := set()
			out, err := New(NewStore(kv, "s", time.Second), nil, tc.opts).Hold(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.untouched {
				if out != in {
					t.Fatal("a cycle with nothing to hold got a new set")
				}
				return
			}
			got := held(&jobs.Set{Files: out.Files[:3]})
			for id, want := range tc.want {
				if got[id] != want {
					t.Errorf("%s held %q, want %q", id, got[id], want)
				}
			}
			if out.Files[3].Err == nil || out.Files[3].Hold != "" {
				t.Errorf("a broken file was touched: %+v", out.Files[3])
			}
			if out.NoPrune != tc.noPrune {
				t.Errorf("NoPrune %q, want %q", out.NoPrune, tc.noPrune)
			}
			for _, k := range tc.keep {
				if out.Keep[k] == "" {
					t.Errorf("%s not kept from pruning", k)
				}
			}
			if in.Files[0].Hold != "" {
				t.Error("the input set was changed")
			}
		})
	}
}

func TestHold_UnreadableSuspensionsFailTheCycle(t *testing.T) {
	kv := newMemKV()
	kv.put("s", []byte("nope"))
	if _, err := New(NewStore(kv, "s", time.Second), nil, Options{}).Hold(context.Background(), &jobs.Set{}); err == nil {
		t.Fatal("no error")
	}
}

// scriptedWatch answers GetWait from a script, then blocks until ctx ends.
type scriptedWatch struct {
	answers []watchAnswer
	done    chan struct{}
}

type watchAnswer struct {
	pair  *state.Pair
	index uint64
	err   error
}

func (w *scriptedWatch) GetWait(ctx context.Context, _ string, _ uint64, _ time.Duration) (*state.Pair, uint64, error) {
	if len(w.answers) == 0 {
		close(w.done)
		<-ctx.Done()
		return nil, 0, ctx.Err()
	}
	a := w.answers[0]
	w.answers = w.answers[1:]
	return a.pair, a.index, a.err
}

// TestWatch_TriggersOnlyWhenTheKeyChanges: the index of an absent key
// moves with any write to the KV store; only a change of the key itself
// (written, rewritten, deleted) starts a cycle.
func TestWatch_TriggersOnlyWhenTheKeyChanges(t *testing.T) {
	pair := func(mod uint64) *state.Pair { return &state.Pair{Key: "s", ModifyIndex: mod} }
	w := &scriptedWatch{done: make(chan struct{}), answers: []watchAnswer{
		{nil, 10, nil},      // first read: the key is absent
		{nil, 12, nil},      // another key written: no cycle
		{pair(13), 13, nil}, // suspended: a cycle
		{pair(13), 15, nil}, // another key written: no cycle
		{nil, 0, context.DeadlineExceeded},
		{pair(16), 16, nil}, // rewritten (after a failed query): a cycle
		{nil, 17, nil},      // deleted: a cycle
	}}
	var triggers []string
	ctx, cancel := context.WithCancel(context.Background())
	c := New(NewStore(newMemKV(), "s", time.Second), w, Options{Logger: zerolog.Nop()})
	go func() { <-w.done; cancel() }()
	c.Watch(ctx, func(reason string) { triggers = append(triggers, reason) }, func(int) time.Duration { return time.Millisecond })
	if len(triggers) != 3 || triggers[0] != "suspensions changed" {
		t.Errorf("triggers %q, want 3 (suspended, rewritten, deleted)", triggers)
	}
}

// TestWatch_ACycleWhenTheFreezeEnds: a deploy held by a deny window goes
// out when the window closes, not at the next interval.
func TestWatch_ACycleWhenTheFreezeEnds(t *testing.T) {
	// The clock runs at real speed, 20ms before a daily window closes.
	end := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	offset := end.Add(-20 * time.Millisecond).Sub(time.Now())
	c := New(nil, nil, Options{
		Windows: Windows{Deny: []Window{mustWindow(t, "CRON_TZ=UTC 0 0 * * * 1h")}},
		Now:     func() time.Time { return time.Now().Add(offset) },
		Logger:  zerolog.Nop(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	triggered := make(chan string, 1)
	go c.Watch(ctx, func(reason string) {
		select {
		case triggered <- reason:
		default:
		}
	}, nil)
	select {
	case reason := <-triggered:
		if reason != "window closed" {
			t.Errorf("reason %q", reason)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no cycle when the window closed")
	}
}

package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/drover-dev/drover/jobs"
)

// fence makes every CAS of kv fail as Consul refuses a write whose
// check-session failed, and counts the calls of each kind.
func fence(kv *MemoryKV) (calls func() map[string]int) {
	var mu sync.Mutex
	n := map[string]int{}
	kv.SetHook(func(_ context.Context, c Call) error {
		mu.Lock()
		n[c.Op]++
		mu.Unlock()
		if c.Op == "cas" {
			return fmt.Errorf("write consul key %s: %w", c.Key, ErrFenced)
		}
		return nil
	})
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return map[string]int{"cas": n["cas"], "get": n["get"], "list": n["list"]}
	}
}

// A fenced write is not a conflict: it is tried once, never re-read and
// re-applied, the change stays pending in memory, and the error says fenced.
func TestLedger_FencedUpdateIsAnErrorNotAConflict(t *testing.T) {
	kv := &MemoryKV{}
	l, seen := loaded(t, kv)
	if _, err := l.Update(t.Context(), web, setPhase(Watching)); err != nil {
		t.Fatal(err)
	}
	before := kv.Value(webKey)
	calls := fence(kv)

	j, err := l.Update(t.Context(), web, setPhase(Baking))
	if !errors.Is(err, ErrFenced) || errors.Is(err, ErrConflict) {
		t.Fatalf("Update = %v; want an error wrapping ErrFenced, not ErrConflict", err)
	}
	if got := calls(); got["cas"] != 1 || got["get"] != 0 {
		t.Errorf("store calls = %v; want one write and no re-read", got)
	}
	if phaseOf(j) != Baking || phaseOf(l.Get(web)) != Baking {
		t.Errorf("memory = %+v; want the change kept", l.Get(web))
	}
	if string(kv.Value(webKey)) != string(before) {
		t.Errorf("store = %s; want it unchanged", kv.Value(webKey))
	}
	if c := seen.all(); len(c) != 0 {
		t.Errorf("a fenced write reported conflicts: %+v", c)
	}

	// Still pending: once the store accepts writes again, Refresh writes it.
	kv.SetHook(nil)
	if err := l.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := phaseOf(stored(t, kv, webKey)); got != Baking {
		t.Errorf("stored phase after the fence lifted = %q; want %q", got, Baking)
	}
}

// Refresh passes the fence up and stops at the first fenced write: every
// other write would be refused the same way.
func TestLedger_FencedRefreshStopsAtFirstWrite(t *testing.T) {
	kv := &MemoryKV{}
	l, seen := loaded(t, kv)
	kv.SetErr(errors.New("consul down"))
	for _, k := range []jobs.Key{web, apiJob} {
		if _, err := l.Update(t.Context(), k, setPhase(Watching)); err == nil {
			t.Fatalf("Update of %s with the store down succeeded", k)
		}
	}
	kv.SetErr(nil)
	calls := fence(kv)

	err := l.Refresh(t.Context())
	if !errors.Is(err, ErrFenced) || errors.Is(err, ErrConflict) {
		t.Fatalf("Refresh = %v; want an error wrapping ErrFenced, not ErrConflict", err)
	}
	if got := calls(); got["cas"] != 1 || got["get"] != 0 {
		t.Errorf("store calls = %v; want one write, then none", got)
	}
	if kv.Value(webKey) != nil || kv.Value(apiKey) != nil {
		t.Error("a fenced write landed")
	}
	if phaseOf(l.Get(web)) != Watching || phaseOf(l.Get(apiJob)) != Watching {
		t.Error("the pending changes were dropped from memory")
	}
	if c := seen.all(); len(c) != 0 {
		t.Errorf("fenced writes reported conflicts: %+v", c)
	}
}

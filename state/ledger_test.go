package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
	"github.com/drover-dev/drover/jobs"
)

var (
	web    = jobs.Key{Namespace: "default", ID: "web/api"}
	apiJob = jobs.Key{Namespace: "default", ID: "api"}
)

const (
	prefix = "drover/x/"
	webKey = prefix + "jobs/default/web%2Fapi"
	apiKey = prefix + "jobs/default/api"
)

// conflicts records what a ledger reports through OnConflict.
type conflicts struct {
	mu   sync.Mutex
	seen []Conflict
}

func (c *conflicts) add(x Conflict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, x)
}

func (c *conflicts) all() []Conflict {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Conflict(nil), c.seen...)
}

// loaded returns a ledger over kv that has read it once, and what it
// reports as conflicts.
func loaded(t *testing.T, kv KV) (*Ledger, *conflicts) {
	t.Helper()
	c := &conflicts{}
	l := NewLedger(kv, prefix, LedgerOptions{OnConflict: c.add})
	if err := l.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return l, c
}

// stored decodes the job state kept at key; nil when the key is absent.
func stored(t *testing.T, kv *MemoryKV, key string) *Job {
	t.Helper()
	b := kv.Value(key)
	if b == nil {
		return nil
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return &j
}

func encode(t *testing.T, j *Job) []byte {
	t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setPhase(p Phase) func(*Job) {
	return func(j *Job) { j.Rollout = &Rollout{Kind: Deploy, Revision: Revision{Commit: "c1"}, Phase: p} }
}

func phaseOf(j *Job) Phase {
	if j == nil || j.Rollout == nil {
		return ""
	}
	return j.Rollout.Phase
}

func TestLedger_UpdatePersistsAndReloads(t *testing.T) {
	kv := &MemoryKV{}
	l, _ := loaded(t, kv)
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	if _, err := l.Update(t.Context(), web, func(j *Job) {
		j.LastGood = &Revision{Commit: "aaa", Fingerprint: "f1", Path: "web.nomad.hcl", Version: 3, At: at}
		j.Quarantine(Quarantine{Fingerprint: "f2", Commit: "bbb", Reason: "check critical", At: at})
	}); err != nil {
		t.Fatal(err)
	}
	pairs, _ := kv.List(t.Context(), prefix)
	if len(pairs) != 1 || pairs[0].Key != webKey {
		t.Fatalf("stored keys = %v; want the job ID escaped under the prefix", pairs)
	}

	again, _ := loaded(t, kv)
	j := again.Get(web)
	if j == nil || j.LastGood.Commit != "aaa" || !j.LastGood.At.Equal(at) {
		t.Fatalf("reloaded state = %+v", j)
	}
	if q, ok := j.QuarantineOf("f2"); !ok || q.Commit != "bbb" {
		t.Errorf("quarantine lost on reload: %+v", j.Quarantined)
	}
	if _, ok := j.QuarantineOf("f1"); ok {
		t.Error("the last good spec reads as quarantined")
	}
}

func TestLedger_UnreachableStoreFailsUntilFirstRead(t *testing.T) {
	kv := &MemoryKV{}
	kv.SetErr(errors.New("connection refused"))
	l := NewLedger(kv, prefix, LedgerOptions{})
	err := l.Refresh(t.Context())
	if err == nil || !strings.Contains(err.Error(), "connection refused") || l.Loaded() {
		t.Fatalf("Refresh with the store down = %v (loaded %v); want the error and nothing loaded", err, l.Loaded())
	}
	kv.SetErr(nil)
	if err := l.Refresh(t.Context()); err != nil || !l.Loaded() {
		t.Fatalf("Refresh after recovery = %v", err)
	}
}

func TestLedger_FailedWriteKeptAndWrittenByRefresh(t *testing.T) {
	kv := &MemoryKV{}
	l, _ := loaded(t, kv)
	kv.SetErr(errors.New("consul down"))
	j, err := l.Update(t.Context(), web, func(j *Job) { j.Quarantine(Quarantine{Fingerprint: "bad", Commit: "c2"}) })
	if err == nil {
		t.Fatal("Update with the store down returned no error")
	}
	if _, ok := j.QuarantineOf("bad"); !ok {
		t.Fatal("the returned state lost the change")
	}
	if _, ok := l.Get(web).QuarantineOf("bad"); !ok {
		t.Fatal("the ledger forgot a quarantine because Consul was down")
	}
	if err := l.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh with the store still down reported success")
	}
	kv.SetErr(nil)
	if err := l.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh after recovery: %v", err)
	}
	if _, ok := stored(t, kv, webKey).QuarantineOf("bad"); !ok {
		t.Error("the retried write did not reach the store")
	}
}

// Issue 8 item 2: a write held in flight while a newer update is made must
// never leave the store with the older state, whether the newer write then
// fails (the next Refresh writes it) or lands.
func TestLedger_OlderWriteNeverLandsAfterNewer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		newerFails bool
	}{
		{"newer write fails", true},
		{"newer write lands", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := &MemoryKV{}
			l, _ := loaded(t, kv)
			if _, err := l.Update(t.Context(), web, setPhase(Watching)); err != nil {
				t.Fatal(err)
			}

			held, release := make(chan struct{}), make(chan struct{})
			var mu sync.Mutex
			var writes []Phase // phases of the writes, in the order they reached the store
			cas := 0
			kv.SetHook(func(ctx context.Context, c Call) error {
				if c.Op != "cas" {
					return nil
				}
				var j Job
				_ = json.Unmarshal(c.Value, &j)
				mu.Lock()
				cas++
				n := cas
				mu.Unlock()
				switch {
				case n == 1:
					close(held)
					<-release
				case n == 2 && tc.newerFails:
					return errors.New("connection reset")
				}
				mu.Lock()
				writes = append(writes, phaseOf(&j))
				mu.Unlock()
				return nil
			})

			var wg sync.WaitGroup
			var newerErr error
			wg.Go(func() { _, _ = l.Update(t.Context(), web, setPhase(Baking)) })
			<-held
			wg.Go(func() { _, newerErr = l.Update(t.Context(), web, setPhase(Healthy)) })
			testutil.WaitFor(t, 10*time.Second, "the newer phase in memory", func() (bool, string) {
				got := phaseOf(l.Get(web))
				return got == Healthy, fmt.Sprint(got)
			})
			close(release)
			wg.Wait()

			if tc.newerFails {
				if newerErr == nil {
					t.Fatal("the newer Update's failed write returned no error")
				}
				if err := l.Refresh(t.Context()); err != nil {
					t.Fatalf("Refresh after the store recovered: %v", err)
				}
			}
			if got := phaseOf(stored(t, kv, webKey)); got != Healthy {
				t.Errorf("store holds %q, memory %q: the newest phase was lost", got, phaseOf(l.Get(web)))
			}
			mu.Lock()
			defer mu.Unlock()
			for i := 1; i < len(writes); i++ {
				if writes[i-1] == Healthy && writes[i] == Baking {
					t.Errorf("writes reached the store as %v: an older state after a newer one", writes)
				}
			}
		})
	}
}

// Several goroutines update, Refresh runs meanwhile and the store fails
// every third call: once the store answers again, store and memory agree.
func TestLedger_ConcurrentUpdatesEndWithStoreEqualToMemory(t *testing.T) {
	kv := &MemoryKV{}
	l, _ := loaded(t, kv)
	var mu sync.Mutex
	calls := 0
	kv.SetHook(func(context.Context, Call) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls%3 == 0 {
			return errors.New("connection reset")
		}
		return nil
	})
	keys := []jobs.Key{web, apiJob, {Namespace: "batch", ID: "report"}}
	done := make(chan struct{})
	var refresher sync.WaitGroup
	refresher.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				_ = l.Refresh(t.Context())
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 30 {
				k := keys[(g+i)%len(keys)]
				fp := fmt.Sprintf("g%d-%d", g, i)
				_, _ = l.Update(t.Context(), k, func(j *Job) {
					j.Quarantine(Quarantine{Fingerprint: fp, Commit: fp})
					j.Applied = &Revision{Commit: fp}
				})
			}
		})
	}
	wg.Wait()
	close(done)
	refresher.Wait()

	kv.SetHook(nil)
	if err := l.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh with the store back: %v", err)
	}
	for _, k := range keys {
		mem := l.Get(k)
		if mem == nil {
			t.Fatalf("%s: nothing in memory", k)
		}
		if got, want := string(kv.Value(l.key(k))), string(encode(t, mem)); got != want {
			t.Errorf("%s:\nstore  %s\nmemory %s", k, got, want)
		}
	}
}

// A write that reached the store but whose answer was lost is recognised
// as drover's own by the next Refresh: not a conflict, not written twice.
func TestLedger_LostWriteAnswerIsNotAConflict(t *testing.T) {
	kv := &MemoryKV{}
	l, seen := loaded(t, kv)
	var once sync.Once
	kv.SetHook(func(_ context.Context, c Call) error {
		var err error
		once.Do(func() {
			kv.Put(c.Key, c.Value)
			err = errors.New("connection reset after the request was sent")
		})
		return err
	})
	if _, err := l.Update(t.Context(), web, setPhase(Watching)); err == nil {
		t.Fatal("want the lost answer reported")
	}
	if err := l.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := seen.all(); len(c) != 0 {
		t.Errorf("drover's own write reported as someone else's: %+v", c)
	}
	if _, err := l.Update(t.Context(), web, setPhase(Baking)); err != nil {
		t.Fatalf("the next write: %v", err)
	}
	if got := phaseOf(stored(t, kv, webKey)); got != Baking {
		t.Errorf("store holds %q, want baking", got)
	}
	if c := seen.all(); len(c) != 0 {
		t.Errorf("the write after a lost answer conflicted: %+v", c)
	}
}

// Issue 8 item 11: an operator's edit or delete of a state key is seen by
// the running agent at its next Refresh and wins; drover's unwritten
// changes are applied on top.
func TestLedger_RefreshAdoptsOperatorChanges(t *testing.T) {
	quarantined := func(j *Job) { j.Quarantine(Quarantine{Fingerprint: "bad", Commit: "c2"}) }
	for _, tc := range []struct {
		name     string
		unsaved  func(*Job) // a change whose write fails before the operator acts
		operator func(t *testing.T, kv *MemoryKV)
		want     func(t *testing.T, mem *Job)
		conflict Conflict
	}{
		{
			name:     "delete forgets the job and its quarantine",
			operator: func(_ *testing.T, kv *MemoryKV) { kv.Delete(webKey) },
			want: func(t *testing.T, mem *Job) {
				if mem != nil {
					t.Errorf("memory still holds %+v", mem)
				}
			},
			conflict: Conflict{Key: webKey, Job: web, Deleted: true},
		},
		{
			name: "edit is adopted",
			operator: func(t *testing.T, kv *MemoryKV) {
				kv.Put(webKey, encode(t, &Job{Namespace: web.Namespace, ID: web.ID, LastGood: &Revision{Commit: "ccc"}}))
			},
			want: func(t *testing.T, mem *Job) {
				if _, ok := mem.QuarantineOf("bad"); ok || mem.LastGood == nil || mem.LastGood.Commit != "ccc" {
					t.Errorf("memory = %+v; want the operator's copy", mem)
				}
			},
			conflict: Conflict{Key: webKey, Job: web},
		},
		{
			name:     "delete keeps drover's unwritten change",
			unsaved:  setPhase(Baking),
			operator: func(_ *testing.T, kv *MemoryKV) { kv.Delete(webKey) },
			want: func(t *testing.T, mem *Job) {
				if _, ok := mem.QuarantineOf("bad"); ok || phaseOf(mem) != Baking {
					t.Errorf("memory = %+v; want only the unwritten change on an empty state", mem)
				}
			},
			conflict: Conflict{Key: webKey, Job: web, Deleted: true, Reapplied: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := &MemoryKV{}
			l, seen := loaded(t, kv)
			if _, err := l.Update(t.Context(), web, quarantined); err != nil {
				t.Fatal(err)
			}
			if tc.unsaved != nil {
				kv.FailNext(1, errors.New("consul down"))
				if _, err := l.Update(t.Context(), web, tc.unsaved); err == nil {
					t.Fatal("want the failed write reported")
				}
			}
			tc.operator(t, kv)
			if err := l.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			mem := l.Get(web)
			tc.want(t, mem)
			if got := seen.all(); len(got) != 1 || got[0] != tc.conflict {
				t.Errorf("conflicts = %+v; want [%+v]", got, tc.conflict)
			}
			var inStore *Job
			if b := kv.Value(webKey); b != nil {
				inStore = stored(t, kv, webKey)
			}
			if string(encode(t, inStore)) != string(encode(t, mem)) {
				t.Errorf("store %+v differs from memory %+v", inStore, mem)
			}
		})
	}
}

// An Update whose compare-and-set finds the key changed by an operator
// adopts the operator's copy and writes its change on top.
func TestLedger_UpdateAfterOperatorEditReappliesChange(t *testing.T) {
	kv := &MemoryKV{}
	l, seen := loaded(t, kv)
	if _, err := l.Update(t.Context(), web, func(j *Job) { j.LastGood = &Revision{Commit: "aaa"} }); err != nil {
		t.Fatal(err)
	}
	kv.Put(webKey, encode(t, &Job{Namespace: web.Namespace, ID: web.ID, LastGood: &Revision{Commit: "ops"}}))

	got, err := l.Update(t.Context(), web, setPhase(Watching))
	if err != nil {
		t.Fatal(err)
	}
	for name, j := range map[string]*Job{"returned": got, "memory": l.Get(web), "store": stored(t, kv, webKey)} {
		if j.LastGood == nil || j.LastGood.Commit != "ops" || phaseOf(j) != Watching {
			t.Errorf("%s = %+v; want the operator's last good and the new rollout", name, j)
		}
	}
	if c := seen.all(); len(c) != 1 || c[0] != (Conflict{Key: webKey, Job: web, Reapplied: 1}) {
		t.Errorf("conflicts = %+v; want one, with the change re-applied", c)
	}
}

// An Update made before the store was ever read builds on what the store
// holds rather than replacing it, and that is no one else's change.
func TestLedger_UpdateBeforeFirstRefreshBuildsOnTheStore(t *testing.T) {
	kv := &MemoryKV{}
	old := &Job{Namespace: web.Namespace, ID: web.ID}
	old.Quarantine(Quarantine{Fingerprint: "bad", Commit: "c2"})
	kv.Put(webKey, encode(t, old))
	seen := &conflicts{}
	l := NewLedger(kv, prefix, LedgerOptions{OnConflict: seen.add})
	if _, err := l.Update(t.Context(), web, setPhase(Watching)); err != nil {
		t.Fatal(err)
	}
	if err := l.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, j := range map[string]*Job{"memory": l.Get(web), "store": stored(t, kv, webKey)} {
		if _, ok := j.QuarantineOf("bad"); !ok || phaseOf(j) != Watching {
			t.Errorf("%s = %+v; want the stored quarantine and the new rollout", name, j)
		}
	}
	if c := seen.all(); len(c) != 0 {
		t.Errorf("reading the store for the first time reported conflicts: %+v", c)
	}
}

func TestLedger_WriteGivesUpOnAKeyThatKeepsChanging(t *testing.T) {
	kv := &MemoryKV{}
	l, _ := loaded(t, kv)
	if _, err := l.Update(t.Context(), web, setPhase(Watching)); err != nil {
		t.Fatal(err)
	}
	n := 0
	kv.SetHook(func(_ context.Context, c Call) error {
		if c.Op == "cas" {
			n++
			kv.Put(c.Key, encode(t, &Job{Namespace: web.Namespace, ID: web.ID, LastGood: &Revision{Commit: fmt.Sprint(n)}}))
		}
		return nil
	})
	_, err := l.Update(t.Context(), web, setPhase(Baking))
	if !errors.Is(err, ErrConflict) || n != maxWriteAttempts {
		t.Fatalf("Update = %v after %d writes; want ErrConflict after %d", err, n, maxWriteAttempts)
	}
	if phaseOf(l.Get(web)) != Baking {
		t.Error("the change was dropped from memory")
	}
}

// staleKV's List reads the store, then waits before answering, so a write
// can land between the read and the answer.
type staleKV struct {
	*MemoryKV
	read, answer chan struct{}
}

func (s *staleKV) List(ctx context.Context, prefix string) ([]Pair, error) {
	pairs, err := s.MemoryKV.List(ctx, prefix)
	close(s.read)
	<-s.answer
	return pairs, err
}

// A listing read before a write of drover's own lands must not undo it.
func TestLedger_ListingOlderThanAWriteDoesNotUndoIt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before bool // the key exists before the listing
	}{
		{"key edited during the listing", true},
		{"key created during the listing", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := &MemoryKV{}
			l, seen := loaded(t, mem)
			if tc.before {
				if _, err := l.Update(t.Context(), web, setPhase(Watching)); err != nil {
					t.Fatal(err)
				}
			}
			kv := &staleKV{MemoryKV: mem, read: make(chan struct{}), answer: make(chan struct{})}
			l.kv = kv
			refreshed := make(chan error, 1)
			go func() { refreshed <- l.Refresh(t.Context()) }()
			<-kv.read
			if _, err := l.Update(t.Context(), web, setPhase(Baking)); err != nil {
				t.Fatal(err)
			}
			close(kv.answer)
			if err := <-refreshed; err != nil {
				t.Fatal(err)
			}
			if got := phaseOf(l.Get(web)); got != Baking {
				t.Errorf("memory went back to %q after a listing older than the write", got)
			}
			if c := seen.all(); len(c) != 0 {
				t.Errorf("drover's own write reported as a conflict: %+v", c)
			}
		})
	}
}

// Issue 8 item 12: state is keyed by path. A copy of a job's state under
// another job's key does not touch the real job, whatever the order the
// keys are listed in, and holds the job its path names.
func TestLedger_CopyUnderAnotherKeyIsRefused(t *testing.T) {
	for _, copyID := range []string{"aaa", "zzz"} { // listed before and after the real key
		t.Run(copyID, func(t *testing.T) {
			kv := &MemoryKV{}
			real := &Job{Namespace: web.Namespace, ID: web.ID}
			real.Quarantine(Quarantine{Fingerprint: "bad", Commit: "c2"})
			kv.Put(webKey, encode(t, real))
			forged := &Job{Namespace: web.Namespace, ID: web.ID} // the quarantine dropped
			copyJob := jobs.Key{Namespace: "default", ID: copyID}
			copyKey := prefix + "jobs/default/" + copyID
			kv.Put(copyKey, encode(t, forged))

			for range 5 {
				l, _ := loaded(t, kv)
				if _, ok := l.Get(web).QuarantineOf("bad"); !ok {
					t.Fatalf("the real job lost its quarantine to the copy: %+v", l.Get(web))
				}
				if err := l.Invalid(web); err != nil {
					t.Fatalf("the real job reads as invalid: %v", err)
				}
				err := l.Invalid(copyJob)
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), copyKey) ||
					!strings.Contains(err.Error(), web.String()) || !strings.Contains(err.Error(), copyJob.String()) {
					t.Fatalf("Invalid(%s) = %v; want ErrInvalid naming the key and both jobs", copyJob, err)
				}
				if l.Get(copyJob) != nil || len(l.All()) != 1 {
					t.Fatalf("the copy's content is in memory: %+v", l.All())
				}
				p := l.Problems()
				if len(p) != 1 || p[0].Key != copyKey || p[0].Job == nil || *p[0].Job != copyJob {
					t.Fatalf("Problems = %+v; want the copy's key, holding %s", p, copyJob)
				}
			}

			// drover never writes over the invalid key; a change made
			// meanwhile waits for the key to be fixed.
			l, _ := loaded(t, kv)
			if j, err := l.Update(t.Context(), copyJob, setPhase(Watching)); j != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Update of a job with an invalid key = %+v, %v; want nil and ErrInvalid", j, err)
			}
			if got := stored(t, kv, copyKey); got.ID != web.ID {
				t.Fatalf("the invalid key was written over: %+v", got)
			}
			kv.Delete(copyKey)
			if err := l.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			if l.Invalid(copyJob) != nil || len(l.Problems()) != 0 {
				t.Errorf("still invalid after the key was deleted: %v", l.Problems())
			}
			if got := stored(t, kv, copyKey); got == nil || got.Key() != copyJob || phaseOf(got) != Watching {
				t.Errorf("the change kept while the key was invalid was not written: %+v", got)
			}
		})
	}
}

// Issue 8 item 13: one unreadable key holds only its job; folder keys are
// not state; keys that name no job are reported apart.
func TestLedger_UnreadableKeyHoldsOnlyItsJob(t *testing.T) {
	kv := &MemoryKV{}
	kv.Put(webKey, encode(t, &Job{Namespace: web.Namespace, ID: web.ID, LastGood: &Revision{Commit: "aaa"}}))
	kv.Put(apiKey, []byte("{not json"))
	empty := jobs.Key{Namespace: "default", ID: "empty"}
	kv.Put(prefix+"jobs/default/empty", []byte("{}"))
	for _, folder := range []string{prefix + "jobs/", prefix + "jobs/default/"} {
		kv.Put(folder, nil)
	}
	stray := []string{
		prefix + "jobs/default",       // no job part
		prefix + "jobs/a/b/c",         // an unescaped "/" in the ID
		prefix + "jobs/default/w%65b", // another spelling of default/web
		prefix + "jobs/default/%zz",   // not an escape
	}
	for _, k := range stray {
		kv.Put(k, encode(t, &Job{Namespace: "default", ID: "web"}))
	}

	l, _ := loaded(t, kv)
	if !l.Loaded() {
		t.Fatal("not loaded")
	}
	if j := l.Get(web); j == nil || j.LastGood.Commit != "aaa" {
		t.Errorf("a readable job did not load: %+v", j)
	}
	for k, want := range map[jobs.Key]string{apiJob: "not valid JSON", empty: "names no job"} {
		if err := l.Invalid(k); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), l.key(k)) || !strings.Contains(err.Error(), want) {
			t.Errorf("Invalid(%s) = %v; want ErrInvalid naming %s, %q", k, err, l.key(k), want)
		}
	}
	byKey := map[string]Problem{}
	for _, p := range l.Problems() {
		byKey[p.Key] = p
	}
	if len(byKey) != 2+len(stray) {
		t.Errorf("Problems = %+v; want the two invalid job keys and %d stray keys, no folder", l.Problems(), len(stray))
	}
	for _, k := range stray {
		if p, ok := byKey[k]; !ok || p.Job != nil || p.Err == nil {
			t.Errorf("stray key %s: problem %+v; want one tied to no job", k, p)
		}
	}
	if p := byKey[apiKey]; p.Job == nil || *p.Job != apiJob {
		t.Errorf("problem of %s = %+v; want it tied to %s", apiKey, p, apiJob)
	}

	kv.Put(apiKey, encode(t, &Job{Namespace: apiJob.Namespace, ID: apiJob.ID, LastGood: &Revision{Commit: "fixed"}}))
	if err := l.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := l.Invalid(apiJob); err != nil {
		t.Errorf("still invalid after the operator fixed the key: %v", err)
	}
	if j := l.Get(apiJob); j == nil || j.LastGood.Commit != "fixed" {
		t.Errorf("the fixed key was not loaded: %+v", j)
	}
}

// Every call to the store is bounded by CallTimeout, whatever the
// caller's context allows.
func TestLedger_CallTimeoutBoundsAHungStore(t *testing.T) {
	hang := func(ctx context.Context, _ Call) error {
		<-ctx.Done()
		return ctx.Err()
	}
	const timeout = 50 * time.Millisecond
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, kv *MemoryKV, l *Ledger) error
	}{
		{"first Refresh", func(t *testing.T, kv *MemoryKV, l *Ledger) error {
			kv.SetHook(hang)
			return l.Refresh(t.Context())
		}},
		{"Update", func(t *testing.T, kv *MemoryKV, l *Ledger) error {
			if err := l.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			kv.SetHook(hang)
			_, err := l.Update(t.Context(), web, setPhase(Watching))
			return err
		}},
		{"Refresh writing many jobs", func(t *testing.T, kv *MemoryKV, l *Ledger) error {
			if err := l.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			kv.SetErr(errors.New("down"))
			for i := range 20 {
				_, _ = l.Update(t.Context(), jobs.Key{Namespace: "default", ID: fmt.Sprint(i)}, setPhase(Watching))
			}
			kv.SetErr(nil)
			n := 0
			kv.SetHook(func(ctx context.Context, c Call) error {
				if c.Op == "cas" {
					n++
					return hang(ctx, c)
				}
				return nil
			})
			err := l.Refresh(t.Context())
			if n != 1 {
				t.Errorf("%d writes tried against a hung store; want 1, the rest left for later", n)
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := &MemoryKV{}
			l := NewLedger(kv, prefix, LedgerOptions{CallTimeout: timeout})
			start := time.Now()
			err := tc.run(t, kv, l)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v; want a deadline exceeded", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v with a call timeout of %v", took, timeout)
			}
		})
	}
}

package state

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/jobs"
)

var web = jobs.Key{Namespace: "default", ID: "web/api"}

func TestLedger_UpdatePersistsAndReloads(t *testing.T) {
	ctx := context.Background()
	kv := &MemoryKV{}
	l := NewLedger(kv, "drover/prod/")
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	if _, err := l.Update(ctx, web, func(j *Job) {
		j.LastGood = &Revision{Commit: "aaa", Fingerprint: "f1", Path: "web.nomad.hcl", Version: 3, At: at}
		j.Quarantine(Quarantine{Fingerprint: "f2", Commit: "bbb", Reason: "check critical", At: at})
	}); err != nil {
		t.Fatal(err)
	}
	keys, _ := kv.List(ctx, "drover/prod/")
	if _, ok := keys["drover/prod/jobs/default/web%2Fapi"]; !ok || len(keys) != 1 {
		t.Fatalf("stored keys = %v; want the job ID escaped under the prefix", keys)
	}

	again := NewLedger(kv, "drover/prod/")
	if err := again.Sync(ctx); err != nil {
		t.Fatal(err)
	}
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
	ctx := context.Background()
	kv := &MemoryKV{}
	kv.SetErr(errors.New("connection refused"))
	l := NewLedger(kv, "drover/x/")
	err := l.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || l.Loaded() {
		t.Fatalf("Sync with the store down = %v (loaded %v); want the error and nothing loaded", err, l.Loaded())
	}
	kv.SetErr(nil)
	if err := l.Sync(ctx); err != nil || !l.Loaded() {
		t.Fatalf("Sync after recovery = %v", err)
	}
}

func TestLedger_FailedWriteKeptAndRetried(t *testing.T) {
	ctx := context.Background()
	kv := &MemoryKV{}
	l := NewLedger(kv, "drover/x/")
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	kv.SetErr(errors.New("consul down"))
	j, err := l.Update(ctx, web, func(j *Job) { j.Quarantine(Quarantine{Fingerprint: "bad", Commit: "c2"}) })
	if err == nil {
		t.Fatal("Update with the store down returned no error")
	}
	if _, ok := j.QuarantineOf("bad"); !ok {
		t.Fatal("the returned state lost the change")
	}
	if _, ok := l.Get(web).QuarantineOf("bad"); !ok {
		t.Fatal("the ledger forgot a quarantine because Consul was down")
	}
	if err := l.Sync(ctx); err == nil {
		t.Fatal("Sync with the store still down reported success")
	}
	kv.SetErr(nil)
	if err := l.Sync(ctx); err != nil {
		t.Fatalf("Sync after recovery: %v", err)
	}
	fresh := NewLedger(kv, "drover/x/")
	if err := fresh.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := fresh.Get(web).QuarantineOf("bad"); !ok {
		t.Error("the retried write did not reach the store")
	}
}

func TestLedger_CorruptEntryNamesItsKey(t *testing.T) {
	ctx := context.Background()
	kv := &MemoryKV{}
	_ = kv.Put(ctx, "drover/x/jobs/default/web", []byte("{not json"))
	err := NewLedger(kv, "drover/x/").Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "drover/x/jobs/default/web") {
		t.Fatalf("error = %v; want one naming the corrupt key", err)
	}
}

func TestJob_QuarantineIsBoundedAndReplacesSameSpec(t *testing.T) {
	var j Job
	for i := 0; i < maxQuarantined+5; i++ {
		j.Quarantine(Quarantine{Fingerprint: string(rune('a' + i)), Commit: "c"})
	}
	if len(j.Quarantined) != maxQuarantined {
		t.Fatalf("%d quarantined, want at most %d", len(j.Quarantined), maxQuarantined)
	}
	if _, ok := j.QuarantineOf("a"); ok {
		t.Error("the oldest quarantine was kept over the newest")
	}
	last := j.Quarantined[len(j.Quarantined)-1].Fingerprint
	j.Quarantine(Quarantine{Fingerprint: last, Commit: "newer"})
	if q, _ := j.QuarantineOf(last); q.Commit != "newer" || len(j.Quarantined) != maxQuarantined {
		t.Errorf("re-quarantining a spec duplicated it or kept the old record: %+v", q)
	}
}

func TestJob_CloneIsDeep(t *testing.T) {
	now := time.Now()
	j := &Job{ID: "a", LastGood: &Revision{Commit: "x"}, Rollout: &Rollout{HealthySince: &now}, Quarantined: []Quarantine{{Fingerprint: "f"}}}
	c := j.Clone()
	c.LastGood.Commit = "y"
	*c.Rollout.HealthySince = now.Add(time.Hour)
	c.Quarantined[0].Fingerprint = "g"
	if j.LastGood.Commit != "x" || !j.Rollout.HealthySince.Equal(now) || j.Quarantined[0].Fingerprint != "f" {
		t.Error("changing a clone changed the original")
	}
}

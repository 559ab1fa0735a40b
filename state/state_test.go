package state

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// A job's record is what agents of every version read from Consul: its
// JSON, to the byte, is a format. Its types are api's, so a change to
// /v1/status's schema would change it too; this fails first.
func TestJob_KVFormatIsStable(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	later := at.Add(time.Minute)
	j := &Job{Namespace: "default", ID: "web",
		LastGood:    &Revision{Commit: "c1", Fingerprint: "fp1", Path: "web.nomad.hcl", Source: "apps", Version: 3, At: at},
		Applied:     &Revision{Commit: "c2", Fingerprint: "fp2", Path: "web.nomad.hcl", Version: 4, At: later},
		Quarantined: []Quarantine{{Fingerprint: "fp0", Commit: "c0", Reason: "check failed", At: at}},
		Rollout: &Rollout{Kind: Rollback, Revision: Revision{Commit: "c1", Fingerprint: "fp1", Path: "web.nomad.hcl", Source: "apps", Version: 5, At: later},
			FromCommit: "c2", Phase: Baking, Started: later, HealthySince: &later, Finished: &later, Reason: "why"},
		RolledBack: &RolledBack{FromCommit: "c2", ToCommit: "c1", Reason: "check failed", At: later, ByNomad: true},
		History: []HistoryEntry{{Commit: "c2", Version: 4, Class: "update", Kind: Deploy, At: at, Verdict: Failed, Reason: "check failed"},
			{Commit: "c1", Version: 5, Kind: Rollback, At: later, Verdict: Baking}},
	}
	const want = `{"namespace":"default","id":"web","last_good":{"commit":"c1","fingerprint":"fp1","path":"web.nomad.hcl","source":"apps","version":3,"at":"2026-12-01T10:00:00Z"},"applied":{"commit":"c2","fingerprint":"fp2","path":"web.nomad.hcl","version":4,"at":"2026-12-01T10:01:00Z"},"quarantined":[{"fingerprint":"fp0","commit":"c0","reason":"check failed","at":"2026-12-01T10:00:00Z"}],"rollout":{"kind":"rollback","commit":"c1","fingerprint":"fp1","path":"web.nomad.hcl","source":"apps","version":5,"at":"2026-12-01T10:01:00Z","from_commit":"c2","phase":"baking","started":"2026-12-01T10:01:00Z","healthy_since":"2026-12-01T10:01:00Z","finished":"2026-12-01T10:01:00Z","reason":"why"},"rolled_back":{"from_commit":"c2","to_commit":"c1","reason":"check failed","at":"2026-12-01T10:01:00Z","by_nomad":true},"history":[{"commit":"c2","version":4,"class":"update","kind":"deploy","at":"2026-12-01T10:00:00Z","verdict":"failed","reason":"check failed"},{"commit":"c1","version":5,"kind":"rollback","at":"2026-12-01T10:01:00Z","verdict":"baking"}]}`
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("KV record =\n%s\nwant\n%s", b, want)
	}
	var back Job
	if err := json.Unmarshal([]byte(want), &back); err != nil || !reflect.DeepEqual(&back, j) {
		t.Errorf("read back = %+v, %v; want %+v", back, err, j)
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

func TestRollout_InFlight(t *testing.T) {
	done := time.Now()
	for _, tc := range []struct {
		r    *Rollout
		want bool
	}{
		{nil, false},
		{&Rollout{Phase: Watching}, true},
		{&Rollout{Phase: Baking}, true},
		{&Rollout{Phase: Unknown}, true},
		{&Rollout{Phase: Unknown, Finished: &done}, false},
		{&Rollout{Phase: Healthy, Finished: &done}, false},
		{&Rollout{Phase: Failed, Finished: &done}, false},
		{&Rollout{Phase: Superseded}, false},
	} {
		if got := tc.r.InFlight(); got != tc.want {
			t.Errorf("%+v.InFlight() = %v, want %v", tc.r, got, tc.want)
		}
	}
}

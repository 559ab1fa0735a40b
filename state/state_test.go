package state

import (
	"testing"
	"time"
)

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

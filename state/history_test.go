package state

import (
	"fmt"
	"testing"
	"time"
)

func TestJobRecord_UpsertsByCommitAndVersion(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var j Job
	e := HistoryEntry{Commit: "c1", Version: 3, Class: "update", Kind: Deploy, At: at, Verdict: Watching}
	// A change the ledger applies twice records the register once.
	j.Record(e)
	j.Record(e)
	if len(j.History) != 1 {
		t.Fatalf("history = %+v, want one entry", j.History)
	}
	j.Judge("c1", 3, Failed, "check failed")
	j.Judge("c1", 3, Failed, "check failed")
	if h := j.History[0]; h.Verdict != Failed || h.Reason != "check failed" {
		t.Fatalf("judged entry = %+v", h)
	}
	j.Judge("c9", 1, Healthy, "") // not in the history: nothing happens
	if len(j.History) != 1 {
		t.Fatalf("judging an unknown register added it: %+v", j.History)
	}
}

func TestJobRecord_NewerRegisterSupersedesOneInFlight(t *testing.T) {
	var j Job
	j.Record(HistoryEntry{Commit: "c1", Version: 1, Verdict: Healthy})
	j.Record(HistoryEntry{Commit: "c2", Version: 2, Verdict: Watching})
	j.Record(HistoryEntry{Commit: "c3", Version: 3, Verdict: Watching})
	got := []Phase{j.History[0].Verdict, j.History[1].Verdict, j.History[2].Verdict}
	want := []Phase{Healthy, Superseded, Watching}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("verdicts = %v, want %v", got, want)
	}
}

func TestJobRecord_KeepsTheLastTwenty(t *testing.T) {
	var j Job
	for v := uint64(1); v <= 25; v++ {
		j.Record(HistoryEntry{Commit: fmt.Sprint("c", v), Version: v, Verdict: Healthy})
	}
	if len(j.History) != maxHistory || j.History[0].Version != 6 || j.History[maxHistory-1].Version != 25 {
		t.Fatalf("history holds versions %d..%d (%d entries), want 6..25", j.History[0].Version, j.History[len(j.History)-1].Version, len(j.History))
	}
	c := j.Clone()
	c.History[0].Commit = "changed"
	if j.History[0].Commit == "changed" {
		t.Fatal("Clone shares the history with the original")
	}
}

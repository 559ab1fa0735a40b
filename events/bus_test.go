package events

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
)

func TestBus_KeepsTheLastEvents(t *testing.T) {
	b := NewBus(3)
	em := NewEmitter(zerolog.Nop(), b)
	em.Emit(JobInSync{Subject: Subject{Job: "quiet"}}, "not kept: debug")
	for i := range 5 {
		em.Emit(JobApplied{Subject: Subject{Job: fmt.Sprint("j", i)}}, "registered")
	}
	got := b.Recent(0)
	if len(got) != 3 {
		t.Fatalf("%d events kept, want the last 3", len(got))
	}
	for i, e := range got {
		applied, ok := e.Event.(JobApplied)
		if !ok || applied.Job != fmt.Sprint("j", i+2) || e.Level != zerolog.InfoLevel || e.Seq != uint64(i+3) ||
			e.Message != "registered" || e.Time.IsZero() || e.Name() != "job.applied" {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	if after := b.Recent(4); len(after) != 1 || after[0].Seq != 5 {
		t.Errorf("Recent(4) = %+v, want only seq 5", after)
	}
}

func TestBus_SubscribersGetNewEventsAndNeverSlowTheEmitter(t *testing.T) {
	b := NewBus(10)
	em := NewEmitter(zerolog.Nop(), b)
	ctx, cancel := context.WithCancel(context.Background())
	fast := b.Subscribe(ctx, 10)
	slow := b.Subscribe(ctx, 1)
	for range 3 {
		em.Emit(RolloutFailed{}, "x")
	}
	for i := range 3 {
		if e := <-fast; e.Name() != "rollout.failed" || e.Seq != uint64(i+1) {
			t.Errorf("fast subscriber got %+v", e)
		}
	}
	if e := <-slow; e.Seq != 1 {
		t.Errorf("slow subscriber got %+v, want the first event", e)
	}
	if b.Dropped() != 2 {
		t.Errorf("Dropped = %d, want the 2 the slow subscriber had no room for", b.Dropped())
	}
	cancel()
	for range fast {
	}
	if _, open := <-slow; open {
		t.Error("feed still open after its context ended")
	}
}

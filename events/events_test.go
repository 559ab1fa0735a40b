package events

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
)

func TestBus_KeepsTheLastEventsOfTheLog(t *testing.T) {
	b := NewBus(3)
	log := zerolog.New(b).With().Timestamp().Logger()
	log.Debug().Str("event", "job.in_sync").Msg("not kept: debug")
	log.Info().Msg("not kept: no event")
	for i := range 5 {
		log.Info().Str("event", "job.applied").Str("job", fmt.Sprint("j", i)).Msg("registered")
	}
	got := b.Recent(0)
	if len(got) != 3 {
		t.Fatalf("%d events kept, want the last 3", len(got))
	}
	for i, e := range got {
		if e.Name != "job.applied" || e.Str("job") != fmt.Sprint("j", i+2) || e.Level != "info" || e.Seq != uint64(i+3) {
			t.Errorf("event %d = %+v", i, e)
		}
		if _, ok := e.Fields["event"]; ok || e.Time.IsZero() || e.Str("message") != "registered" {
			t.Errorf("event %d fields %v, time %v: want event/level/time lifted out, message kept", i, e.Fields, e.Time)
		}
	}
	if after := b.Recent(4); len(after) != 1 || after[0].Seq != 5 {
		t.Errorf("Recent(4) = %+v, want only seq 5", after)
	}
}

func TestBus_SubscribersGetNewEventsAndNeverSlowTheLog(t *testing.T) {
	b := NewBus(10)
	log := zerolog.New(b)
	ctx, cancel := context.WithCancel(context.Background())
	fast := b.Subscribe(ctx, 10)
	slow := b.Subscribe(ctx, 1)
	for range 3 {
		log.Warn().Str("event", "rollout.failed").Msg("x")
	}
	for i := range 3 {
		if e := <-fast; e.Name != "rollout.failed" || e.Seq != uint64(i+1) {
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

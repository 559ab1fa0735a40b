package agent

import (
	"bytes"
	"errors"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	nomadapi "github.com/hashicorp/nomad/api"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/status-*.golden.json from the fixtures")

// TestStatus_JSONMatchesGolden: /v1/status built from a fixed fixture that
// sets every field is byte for byte the golden document. Scripts, the page
// and the e2e tests read this JSON: a change to a field's name, type or
// omission rule fails here, and is made on purpose with -update.
func TestStatus_JSONMatchesGolden(t *testing.T) {
	fresh := newStatus(map[string]string{"repo": "jobs"}, func(time.Time) (cycle.Step, time.Duration, time.Duration, bool) { return "", 0, 0, false })
	for name, doc := range map[string]api.Status{
		"full":  statusFixture(),
		"fresh": fresh.snapshot(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)),
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeJSON(rec, 200, doc)
			golden := filepath.Join("testdata", "status-"+name+".golden.json")
			if *updateGolden {
				if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("/v1/status changed; if on purpose, run go test ./agent -run TestStatus_JSONMatchesGolden -update\ngot:\n%s", got)
			}
		})
	}
}

// statusFixture is a /v1/status of an agent whose second cycle is in
// flight and stuck, after a first that failed at the sync step, with jobs
// in every report state, two rollouts, controls and a leader.
func statusFixture() api.Status {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ptr := func(t time.Time) *time.Time { return &t }
	commit := &jobs.CommitInfo{Subject: "web: 2 replicas", Author: "Ada <ada@example.com>", Time: at(-60)}
	rep := &reconcile.Report{
		Revision: "c0ffee",
		Commit:   commit,
		Jobs: []*reconcile.JobResult{
			{Key: jobs.Key{Namespace: "default", ID: "web"}, Path: "web.nomad.hcl", Source: "alpha", Commit: "c0ffee", AppliedCommit: "bad1",
				Class: reconcile.Update, Changes: []string{`Count: "1" => "2"`}, Groups: map[string]reconcile.GroupCounts{"web": {Place: 1, InPlace: 1}},
				Planned: true, DependsOn: []jobs.Key{{Namespace: "default", ID: "db"}},
				Applied: &reconcile.Applied{EvalID: "eval-1", Version: 4, ModifyIndex: 99}},
			{Key: jobs.Key{Namespace: "default", ID: "db"}, Path: "db.nomad.hcl", Commit: "c0ffee", AppliedCommit: "c0ffee", Class: reconcile.InSync, Hold: "rollout in flight"},
			{Key: jobs.Key{Namespace: "default", ID: "api"}, Path: "api.nomad.hcl", Class: reconcile.Drift, Hold: "spec quarantined",
				PlacementFailures: map[string]*nomadapi.AllocationMetric{"b": {}, "a": {}}},
			{Key: jobs.Key{Namespace: "default", ID: "cron"}, Path: "cron.nomad.hcl", Class: reconcile.Create},
			{Key: jobs.Key{Namespace: "default", ID: "race"}, Path: "race.nomad.hcl", Class: reconcile.Update, Err: reconcile.ErrConflict},
			{Path: "broken.nomad.hcl", Class: reconcile.Failed, Err: errors.New("broken.nomad.hcl:3,1: Unclosed configuration block")},
		},
		Orphans: []*reconcile.Orphan{
			{Key: jobs.Key{Namespace: "default", ID: "gone"}, Path: "gone.nomad.hcl", Commit: "beef", Source: "beta", Pruned: true, EvalID: "eval-2"},
			{Key: jobs.Key{Namespace: "default", ID: "kept"}, Blocked: "suspended", Err: errors.New("deregister: 500")},
		},
		PruneBlocked: "source beta failed",
		Sources: []jobs.SourceOutcome{
			{Name: "alpha", Revision: "c0ffee", Commit: commit, Prune: true},
			{Name: "beta", Revision: "beef", Err: errors.New("fetch: timeout")},
		},
		Duration: 1500 * time.Millisecond,
	}
	s := newStatus(map[string]string{"repo": "https://example.com/jobs.git", "interval": "1m0s"},
		func(time.Time) (cycle.Step, time.Duration, time.Duration, bool) {
			return cycle.StepSync, time.Minute, 30 * time.Second, true
		})
	s.begin(at(0))
	s.finish(nil, nil, time.Second)
	s.begin(at(10))
	s.finish(rep, &cycle.Failure{Step: cycle.StepSync, Kind: cycle.Transient, Err: errors.New("plan web: 503")}, 2*time.Second)
	s.begin(at(20))
	v := s.snapshot(at(30))
	v.HA = &api.HA{Role: api.RoleLeader, ID: "r1", Leader: &api.Holder{Instance: "prod", ID: "r1", Advertise: "http://127.0.0.1:8680", Since: at(-600)}, Error: "a stale read"}
	v.Rollouts = []api.JobRollout{
		{Job: "web", Namespace: "default", State: api.JobRollingOut, LastGoodCommit: "good1", AppliedCommit: "c0ffee",
			Quarantined: []api.Quarantine{{Fingerprint: "fp-bad", Commit: "bad1", Reason: "check web failed", At: at(-300)}},
			RolledBack:  &api.RolledBack{FromCommit: "bad1", ToCommit: "good1", Reason: "check web failed", At: at(-290), ByNomad: true},
			Held:        "window closed",
			Rollout: &api.Rollout{RolloutRecord: api.RolloutRecord{Kind: api.KindDeploy,
				Revision:   api.Revision{Commit: "c0ffee", Fingerprint: "fp-new", Path: "web.nomad.hcl", Source: "alpha", Version: 4, At: at(11)},
				FromCommit: "bad1", Phase: api.PhaseBaking, Started: at(11), HealthySince: ptr(at(15)), Finished: ptr(at(25)), Reason: "because"},
				Waiting: []string{"alloc 1234 healthy"}, Unreachable: "consul"},
			History: []api.HistoryEntry{
				{Commit: "bad1", Version: 3, Class: "update", Kind: api.KindDeploy, At: at(-310), Verdict: api.PhaseFailed, Reason: "check web failed"},
				{Commit: "c0ffee", Version: 4, Class: "update", Kind: api.KindDeploy, At: at(11), Verdict: api.PhaseWatching},
			}},
		{Job: "db", Namespace: "default", State: api.JobUnverified},
	}
	v.Controls = &api.Controls{
		Suspensions: api.Suspensions{
			Instance: &api.Suspension{By: "ada", At: at(-100), Reason: "incident"},
			Jobs:     map[string]api.Suspension{"default/api": {By: "bob", At: at(-50)}},
		},
		Held:  "deny window 0 9 * * * 1h",
		Until: ptr(at(3600)),
		Windows: []api.Window{
			{Kind: "deny", Spec: "0 9 * * * 1h", Open: true, Ends: ptr(at(3600)), NextOpen: ptr(at(86400))},
			{Kind: "allow", Spec: "0 0 * * * 8h"},
		},
	}
	return v
}

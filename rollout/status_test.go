package rollout

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/state"
)

// TestStatus_ShowsWhatTheLedgerKeeps: a job's remembered rollouts are
// shown field for field in the schema of /v1/status.
func TestStatus_ShowsWhatTheLedgerKeeps(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	later := at.Add(time.Minute)
	good := state.Revision{Commit: "c3", Fingerprint: "fp3", Path: "web.nomad.hcl", Source: "apps", Version: 5, At: at}
	l := state.NewLedger(&state.MemoryKV{}, "drover/test/", state.LedgerOptions{})
	if _, err := l.Update(context.Background(), key, func(j *state.Job) {
		j.LastGood, j.Applied = &good, &good
		j.Quarantine(state.Quarantine{Fingerprint: "bad", Commit: "c2", Reason: "check critical", At: at})
		j.RolledBack = &state.RolledBack{FromCommit: "c2", ToCommit: "c1", Reason: "check critical", At: at, ByNomad: true}
		j.Rollout = &state.Rollout{Kind: state.Deploy, Revision: good, Phase: state.Healthy, Started: at, HealthySince: &at, Finished: &later}
		j.History = []state.HistoryEntry{{Commit: "c3", Version: 5, Class: "update", Kind: state.Deploy, At: at, Verdict: state.Healthy}}
	}); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, l, specsAt{}, Options{})
	want := []api.JobRollout{{
		Job: "web", Namespace: "default", State: api.JobHealthy, LastGoodCommit: "c3", AppliedCommit: "c3",
		Quarantined: []api.Quarantine{{Fingerprint: "bad", Commit: "c2", Reason: "check critical", At: at}},
		RolledBack:  &api.RolledBack{FromCommit: "c2", ToCommit: "c1", Reason: "check critical", At: at, ByNomad: true},
		Rollout: &api.Rollout{RolloutRecord: api.RolloutRecord{Kind: api.KindDeploy,
			Revision: api.Revision{Commit: "c3", Fingerprint: "fp3", Path: "web.nomad.hcl", Source: "apps", Version: 5, At: at},
			Phase:    api.PhaseHealthy, Started: at, HealthySince: &at, Finished: &later}},
		History: []api.HistoryEntry{{Commit: "c3", Version: 5, Class: api.ClassUpdate, Kind: api.KindDeploy, At: at, Verdict: api.PhaseHealthy}},
	}}
	if got := m.Status(); !reflect.DeepEqual(got, want) {
		t.Errorf("Status =\n%+v\nwant\n%+v", got, want)
	}
}

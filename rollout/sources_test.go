package rollout

import (
	"context"
	"errors"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
)

// sourceSpecsAt serves fixed files by source and commit.
type sourceSpecsAt map[string]specsAt

func (s sourceSpecsAt) JobAt(context.Context, string, string) (*jobs.File, error) {
	return nil, errors.New("read without a source")
}

func (s sourceSpecsAt) JobFrom(ctx context.Context, source, commit, path string) (*jobs.File, error) {
	return s[source].JobAt(ctx, commit, path)
}

// TestPin_ReadsTheLastGoodSpecFromItsSource: with many sources, a rollback
// reads the last good spec from the repo of the source that recorded it,
// and the spec put back keeps the job's source.
func TestPin_ReadsTheLastGoodSpecFromItsSource(t *testing.T) {
	good := state.Revision{Commit: "c1", Fingerprint: "good", Path: "web.nomad.hcl", Source: "apps"}
	specs := sourceSpecsAt{
		"platform": {"c1": file("other", "web.nomad.hcl", "wrong-repo")},
		"apps":     {"c1": file("web", "web.nomad.hcl", "good")},
	}
	m := newManager(t, quarantined(t, &good), specs, Options{})
	bad := file("web", "web.nomad.hcl", "bad")
	bad.SourceName = "apps"
	set := m.Pin(context.Background(), &jobs.Set{Revision: "apps@c3", Files: []*jobs.File{bad},
		Sources: []jobs.SourceOutcome{{Name: "apps", Revision: "c3"}}})
	got := set.Files[0]
	if got.Fingerprint != "good" || got.Commit != "c1" || got.SourceName != "apps" || got.Hold != "" {
		t.Errorf("file = %+v; want apps' last good spec at c1", got)
	}
	if set.Source("apps") == nil {
		t.Error("Pin dropped the set's sources")
	}
}
